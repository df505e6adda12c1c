"""capwatch: a terminal monitor for the CapOut, Casmo AI, Capx and Captain APIs."""

__version__ = "0.1.0"
