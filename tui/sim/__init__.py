"""The simulator of all four APIs: `capwatch sim`, the demo's back end, and the target of every test."""
