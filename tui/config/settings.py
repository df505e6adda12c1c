"""The settings layer: a section is a class that declares its settings, `name = Setting(kind, default, ...)`.

A section is built from a table (the file, with the environment and flags merged in) and checks every value on the
way in, assignments too. The rules are few, so an operator can predict them:

- a whole number may be written as text or as a float without a fraction ("8787", 8787.0); a number as text;
- a yes/no setting takes TOML's true/false, 1/0, or one of the words in YES and NO (any case);
- keys and secrets lose the whitespace a paste brings along, and empty means not set;
- an unknown name is refused: a typo must not silently do nothing.

What is wrong is said in words ("must be a whole number"), never with the value (it may be a secret). Vendors
declare their sections on `VendorSettings` (tui/vendors/<vendor>/settings.py); tui/config/model.py assembles them.
"""

from __future__ import annotations

import re
from typing import Any, Callable, ClassVar, Mapping, NamedTuple
from urllib.parse import urlsplit

from tui.text import sanitize
from tui.vendors import VENDORS
from tui.vendors.base import Vendor

# The one list of yes/no words, for the file, the environment and the questions of `capwatch init` alike.
YES = ("true", "yes", "on", "y", "1")
NO = ("false", "no", "off", "n", "0")
YES_NO = ", ".join(f"{yes}/{no}" for yes, no in zip(YES, NO))


class Secret:
    """A key or webhook secret: masked in every repr and str; the value only through `get_secret_value()`."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


class Problem(NamedTuple):
    loc: tuple  # where: ("webhooks", "port"), ("capx", "companies", 0)
    text: str  # what is wrong, in words; never the value
    unknown: bool = False  # a name the section does not have


class InvalidConfig(ValueError):
    """Values that do not fit (building a section or assigning a setting): every problem, in the order the settings
    are declared, each section's unknown names after its other problems."""

    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(f"{dotted(problem.loc)} {problem.text}" for problem in problems))
        self.problems = problems


def dotted(loc: tuple) -> str:
    """`capx.companies.1`, safe to print (a name from the file may hold escape sequences), at most 80 characters."""
    text = sanitize(".".join(str(part) for part in loc), single_line=True)
    return text if len(text) <= 80 else text[:79] + "…"


class Wrong(ValueError):
    """What is wrong with a value, in words; `at` locates the bad part inside it (a list item's index)."""

    def __init__(self, text: str, *at: int):
        super().__init__(text)
        self.at = at


# --------------------------------------------------------------------------------------------- coercions

_INTEGER_TEXT = re.compile(r"[+-]?\d+(?:_\d+)*(?:\.0+)?", re.ASCII)  # "8787", "+8_787", "8787.0"


def as_str(value: Any) -> str:
    if not isinstance(value, str):
        raise Wrong("must be a string")
    return value


def as_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():  # not NaN nor infinity either
        return int(value)
    if isinstance(value, str) and _INTEGER_TEXT.fullmatch(value.strip()):
        return int(value.strip().partition(".")[0])
    raise Wrong("must be a whole number")


def as_float(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # an integer beyond any float: out of every bound
            return float("inf") if value > 0 else float("-inf")
    if isinstance(value, str) and value.strip().isascii():  # float() would also read other scripts' digits
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise Wrong("must be a number")


def as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return value == 1
    if isinstance(value, str):
        word = value.strip().lower()
        if word in YES or word in NO:
            return word in YES
    raise Wrong(f"must be yes or no: one of {YES_NO}")


def as_strings(value: Any) -> list[str]:
    if not isinstance(value, (list, tuple)):
        raise Wrong("must be a list")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise Wrong("must be a string", index)
    return list(value)


def as_secret(value: Any) -> Secret | None:
    """Strip the whitespace a paste brings along; empty means not set; refuse what would break a header."""
    if isinstance(value, Secret):
        value = value.get_secret_value()
    value = as_str(value).strip()
    if not value:
        return None
    if not value.isprintable() or any(c.isspace() for c in value):
        raise Wrong("contains spaces or control characters (a bad paste?)")
    return Secret(value)


_COERCIONS: dict[Any, Callable[[Any], Any]] = {
    str: as_str, int: as_int, float: as_float, bool: as_bool, list: as_strings, Secret: as_secret,
}


# --------------------------------------------------------------------------------------------- checks
# A check runs on a value of the right kind: it returns the value to keep (cleaned) or raises ValueError.


def check_url(value: str) -> str:
    value = value.strip()
    if not value.isprintable() or " " in value:
        raise ValueError("must be a URL without spaces or control characters")
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL")
    if parts.username or parts.password:  # it would be shown in the header and in `capwatch init`
        raise ValueError("must not contain a user name or password (the key goes in api_key)")
    if parts.query or parts.fragment:
        raise ValueError("must not have a query string or fragment")
    try:
        parts.port  # noqa: B018 -- raises on a port that is not a number or out of range
    except ValueError:
        raise ValueError("has an invalid port") from None
    return value.rstrip("/")


_UUID = re.compile(r"[0-9a-f]{8}(-?)[0-9a-f]{4}\1[0-9a-f]{4}\1[0-9a-f]{4}\1[0-9a-f]{12}", re.ASCII | re.IGNORECASE)


def check_uuid(value: str) -> str | None:
    """A UUID, or None for an empty value (not set)."""
    value = value.strip()
    if not value:
        return None
    if not _UUID.fullmatch(value):
        raise ValueError("must be a UUID such as 01999eb7-8554-5c7b-6321-066454166af2")
    return value


def check_host(value: str) -> str:
    value = value.strip()
    if not value or not value.isprintable() or " " in value:
        raise ValueError("must be a host name or address such as 127.0.0.1")
    return value


def check_name(value: str) -> str:
    value = value.strip()
    if not value or not value.isprintable():
        raise ValueError("must be a non-empty name on one line")
    return value


# --------------------------------------------------------------------------------------------- declarations


class Setting:
    """One declared setting: its kind, its default, the rules its value must meet, and where else it comes from.

    `kind` is str, int, float, bool, list (of strings), Secret or a Section class. A None default also allows None
    as a value; `factory` makes a fresh default each time (a list, a section). `choices` are the only values
    allowed, as written (no coercion). `bounds` are inclusive. `check` runs last (see the checks above).

    `env` names the environment variable that sets it; `flag` the command-line option (the attribute argparse
    gives it, "webhook_port"); `ask` the question `capwatch init` asks for it; `needed`: a vendor is off without
    it, even with a key.
    """

    def __init__(self, kind: Any, default: Any = None, *, factory: Callable[[], Any] | None = None,
                 choices: tuple | None = None, bounds: tuple[float, float] | None = None,
                 check: Callable[[Any], Any] | None = None, env: str | None = None, flag: str | None = None,
                 ask: str | None = None, needed: bool = False):
        self.kind = kind
        self.default = default
        self.factory = factory
        self.choices = choices
        self.bounds = bounds
        self.check = check
        self.env = env
        self.flag = flag
        self.ask = ask
        self.needed = needed
        self.nullable = default is None and factory is None

    @property
    def is_section(self) -> bool:
        return isinstance(self.kind, type) and issubclass(self.kind, Section)

    def new_default(self) -> Any:
        return self.factory() if self.factory else self.default

    def validate(self, value: Any, loc: tuple, problems: list[Problem]) -> Any:
        """`value` as this setting holds it; what is wrong goes to `problems` (and None is returned)."""
        if value is None and self.nullable:
            return None
        try:
            if self.is_section:
                return self.kind._from(value, loc, problems)
            if self.choices is not None:
                if value not in self.choices:
                    raise Wrong(f"must be one of {_one_of(self.choices)}")
            else:
                value = _COERCIONS[self.kind](value)
            if self.bounds is not None:
                low, high = self.bounds
                if not low <= value <= high:  # NaN is not in any bounds
                    raise Wrong(f"must be between {low} and {high}")
            return self.check(value) if self.check else value
        except ValueError as problem:  # a Wrong, or a check's ValueError
            problems.append(Problem((*loc, *getattr(problem, "at", ())), str(problem)))
        return None


def _one_of(choices: tuple) -> str:
    """'a', 'b' or 'c'."""
    shown = [repr(choice) for choice in choices]
    return f"{', '.join(shown[:-1])} or {shown[-1]}" if len(shown) > 1 else shown[0]


class Section:
    """A table of settings, declared as `name = Setting(...)` class attributes and held as instance attributes."""

    settings: ClassVar[dict[str, Setting]] = {}  # name -> Setting, in declaration order (a base class's first)

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        declared: dict[str, Setting] = {}
        for klass in reversed(cls.__mro__):  # an override keeps the place of the setting it overrides
            declared.update((name, value) for name, value in vars(klass).items() if isinstance(value, Setting))
        cls.settings = declared

    @classmethod
    def declare(cls, name: str, setting: Setting) -> None:
        """One more setting, after the class statement (the sections `Config` assembles from the registry)."""
        setattr(cls, name, setting)
        cls.settings = {**cls.settings, name: setting}

    def __init__(self, /, **values: Any):
        problems: list[Problem] = []
        self._fill(values, (), problems)
        if problems:
            raise InvalidConfig(problems)

    @classmethod
    def _from(cls, value: Any, loc: tuple, problems: list[Problem]) -> Any:
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            raise Wrong("must be a table of settings")
        section = cls.__new__(cls)
        section._fill(value, loc, problems)
        return section

    def _fill(self, values: Mapping[str, Any], loc: tuple, problems: list[Problem]) -> None:
        for name, setting in self.settings.items():
            value = setting.validate(values[name], (*loc, name), problems) if name in values else setting.new_default()
            object.__setattr__(self, name, value)
        problems.extend(Problem((*loc, name), "is not a setting", unknown=True)
                        for name in values if name not in self.settings)

    def __setattr__(self, name: str, value: Any) -> None:
        setting = self.settings.get(name)
        if setting is None:
            raise InvalidConfig([Problem((name,), "is not a setting", unknown=True)])
        problems: list[Problem] = []
        value = setting.validate(value, (name,), problems)
        if problems:
            raise InvalidConfig(problems)
        object.__setattr__(self, name, value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Section):
            return NotImplemented
        return type(other) is type(self) and all(getattr(self, n) == getattr(other, n) for n in self.settings)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def _shown(self, separator: str) -> str:
        return separator.join(f"{name}={getattr(self, name)!r}" for name, setting in self.settings.items()
                              if setting.kind is not Secret)  # not even masked

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._shown(', ')})"

    def __str__(self) -> str:
        return self._shown(" ")


class VendorSettings(Section):
    """A vendor's section: `base_url`, `api_key` and, if it signs webhooks, `webhook_secret`, named, defaulted and
    asked for from its declaration; then what its own class declares. A vendor's settings module writes

        class CapxSettings(VendorSettings, vendor=VENDOR):
            companies = Setting(list, factory=list)
    """

    vendor: ClassVar[Vendor]

    def __init_subclass__(cls, vendor: Vendor | None = None, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        if vendor is None:
            return
        cls.vendor = vendor
        prefix, title = vendor.env_prefix, vendor.title
        standard = {
            "base_url": Setting(str, vendor.default_base_url, check=check_url, env=f"{prefix}BASE_URL",
                                ask=f"{title} base URL"),
            "api_key": Setting(Secret, env=f"{prefix}API_KEY",
                               ask=f"{title} API key ({'/'.join(vendor.key_prefixes)}...)"),
        }
        if vendor.webhooks:
            standard["webhook_secret"] = Setting(Secret, env=f"{prefix}WEBHOOK_SECRET",
                                                 ask=f"{title} webhook secret (empty: none)")
        for name, setting in standard.items():
            if name not in cls.settings:  # the vendor's class may declare its own
                setattr(cls, name, setting)
        cls.settings = {**standard, **cls.settings}

    @property
    def enabled(self) -> bool:
        """A service with no API key is off: not an error."""
        return self.api_key is not None

    @property
    def api_key_value(self) -> str | None:
        return self.api_key.get_secret_value() if self.api_key else None

    def key_problem(self, key: str) -> str | None:
        """Why `key` cannot be this vendor's API key, or None. Names the vendor it belongs to, never the key."""
        ours = self.vendor
        if key.startswith(ours.key_prefixes):
            return None
        expected = " or ".join(f"{prefix}..." for prefix in ours.key_prefixes)
        owner = next((other for other in VENDORS if key.startswith(other.key_prefixes)), None)
        if owner:
            return f"looks like a {owner.title} key, not a {ours.title} key (those start {expected})"
        return f"does not look like a {ours.title} key (those start {expected})"
