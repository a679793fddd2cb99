"""Model references: ``name``, ``name:3``, ``name:latest``, ``name@alias``.

:meth:`ModelRef.parse` is the only parser of this grammar in the code base.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from runtime.errors import InvalidModelRef, VersionNotFound

__all__ = ["ALIAS_RE", "MAX_VERSION", "NAME_RE", "ModelRef", "check_alias", "check_name"]

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
ALIAS_RE = re.compile(r"[A-Za-z][A-Za-z0-9._-]{0,63}")
_RESERVED_ALIASES = frozenset({"latest"})
#: The largest version number: registries store versions as 32-bit integers.
MAX_VERSION = 2**31 - 1


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid model name, else raise :class:`InvalidModelRef`."""
    if not NAME_RE.fullmatch(name):
        raise InvalidModelRef(
            f"invalid model name {name!r}: use 1-128 characters from letters, digits, '.', '_' "
            "and '-', starting with a letter or digit (e.g. 'fraud-clf')"
        )
    return name


def check_alias(alias: str) -> str:
    """Return ``alias`` if it is a valid alias name, else raise :class:`InvalidModelRef`."""
    if alias.lower() in _RESERVED_ALIASES:
        raise InvalidModelRef(
            f"invalid alias {alias!r}: 'latest' is implicit (always the newest version); "
            "choose another name such as 'production'"
        )
    if not ALIAS_RE.fullmatch(alias):
        raise InvalidModelRef(
            f"invalid alias {alias!r}: start with a letter, then up to 63 letters, digits, "
            "'.', '_' or '-' (e.g. 'production', 'staging')"
        )
    return alias


@dataclass(frozen=True, slots=True)
class ModelRef:
    """A parsed, immutable reference to a model version.

    Exactly one of ``version`` and ``alias`` is set, or neither (meaning latest).

    >>> ModelRef.parse("fraud-clf:3")
    ModelRef(name='fraud-clf', version=3, alias=None)
    >>> str(ModelRef.parse("fraud-clf@production"))
    'fraud-clf@production'
    """

    name: str
    version: int | None = None
    alias: str | None = None

    def __post_init__(self) -> None:
        check_name(self.name)
        if self.version is not None and self.alias is not None:
            raise InvalidModelRef("a model reference takes a version or an alias, not both")
        if self.version is not None and self.version < 1:
            raise InvalidModelRef(f"invalid version {self.version}: versions start at 1")
        if self.alias is not None:
            check_alias(self.alias)

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        """Parse ``name``, ``name:N``, ``name:latest`` or ``name@alias``.

        Raises :class:`InvalidModelRef` with a hint when the text does not parse.
        """
        text = text.strip()
        if "@" in text:
            name, _, alias = text.partition("@")
            return cls(name, alias=alias)
        if ":" in text:
            name, _, tail = text.partition(":")
            if tail == "latest":
                return cls(name)
            if not (tail.isascii() and tail.isdigit()) or len(tail) > 18:
                raise InvalidModelRef(
                    f"invalid model reference {text!r}: after ':' put a version number or "
                    f"'latest' (e.g. '{name}:3'); for an alias write '{name}@{tail or 'alias'}'"
                )
            return cls(name, version=int(tail))
        return cls(text)

    @classmethod
    def at(cls, name: str, ref: str) -> ModelRef:
        """Parse a REST path's ``{name}`` and ``{ref}`` (a number, ``latest`` or an alias).

        A number no version can have (0, or past :data:`MAX_VERSION`) raises
        ``VersionNotFound``; leading zeros name the same version (see :meth:`number_in`).

        >>> ModelRef.at("fraud-clf", "007")
        ModelRef(name='fraud-clf', version=7, alias=None)
        """
        check_name(name)
        if ref == "latest":
            return cls(name)
        number = cls.number_in(ref, name)
        if number is not None:
            return cls(name, version=number)
        try:
            return cls(name, alias=ref)
        except InvalidModelRef:
            raise InvalidModelRef(
                f"invalid version reference {ref[:80]!r}: use a version number, 'latest' "
                "or an alias"
            ) from None

    @staticmethod
    def number_in(ref: str, name: str = "") -> int | None:
        """The version number a REST path's ``{ref}`` spells, or None when it spells no
        number (``latest``, an alias, or something invalid: :meth:`at` says which).

        A number no version can have (0, or past :data:`MAX_VERSION`) raises
        ``VersionNotFound`` (``name`` is for its message). Digits are compared as text
        before ``int``, which refuses strings past 4300 digits, and ``isdecimal`` (not
        ``isdigit``) keeps superscripts out.

        >>> ModelRef.number_in("007"), ModelRef.number_in("production")
        (7, None)
        """
        if not (ref.isascii() and ref.isdecimal()):
            return None
        digits = ref.lstrip("0") or "0"
        if digits == "0" or len(digits) > len(str(MAX_VERSION)) or int(digits) > MAX_VERSION:
            which = f"model {name!r} has no version" if name else "no version is"
            raise VersionNotFound(
                f"{which} {digits[:40]}: versions are numbered from 1 to {MAX_VERSION}"
            )
        return int(digits)

    @property
    def ref(self) -> str:
        """The part after the name as the REST API takes it: ``3``, ``latest`` or the alias."""
        if self.version is not None:
            return str(self.version)
        return self.alias if self.alias is not None else "latest"

    @property
    def is_pinned(self) -> bool:
        """True when the reference names an exact, immutable version."""
        return self.version is not None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}:{self.version}"
        if self.alias is not None:
            return f"{self.name}@{self.alias}"
        return f"{self.name}:latest"
