"""Weighted aliases: the alias document of REST v1 and the one rule that picks a version.

An alias points at one version (``production -> 3``) or splits traffic between several
(``production -> {3: 90, 4: 10}``). Weights are positive integers that sum to
:data:`TOTAL_WEIGHT` (100), so a weight reads as a percentage. A plain alias is the split
``{3: 100}``; every alias document carries ``weights``, so readers have one code path.

:meth:`AliasTarget.pick` maps a key to a version. Versions take consecutive slices of
``[0, 100)`` in ascending version order and the key's sha256 (salted with ``name@alias``)
chooses the point, so the same key picks the same version for as long as the weights
stand, and when a newer version's weight grows, keys already on it stay on it.
Without a key, a process picks with one random key of its own: every load in that
process picks the same version, different processes spread by the weights.

The registry, the runtime, the SDK, the CLI and the serving layer all use this module;
nothing else parses weights or picks versions.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from runtime._refs import check_alias, check_name
from runtime.errors import InvalidWeights

__all__ = ["MAX_SPLIT", "TOTAL_WEIGHT", "AliasEvent", "AliasTarget", "parse_weights"]

#: Weights of one alias always sum to this.
TOTAL_WEIGHT = 100
#: At most this many versions share one alias.
MAX_SPLIT = 8
_MAX_VERSION = 2**62  # registry versions are far below this; it bounds the text
_PAIR = re.compile(r"\s*([0-9]{1,19})\s*[=:]\s*([0-9]{1,3})\s*")
_PROCESS_KEY: str | None = None


def _process_key() -> str:
    """One random key per process (re-drawn in a forked child)."""
    global _PROCESS_KEY
    pid = os.getpid()
    if _PROCESS_KEY is None or not _PROCESS_KEY.startswith(f"{pid}:"):
        _PROCESS_KEY = f"{pid}:{os.urandom(16).hex()}"
    return _PROCESS_KEY


def _as_int(value: object, what: str) -> int:
    if isinstance(value, bool):
        raise InvalidWeights(f"{what} must be an integer, not {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        return int(value)
    raise InvalidWeights(f"{what} must be an integer, not {value!r}")


def parse_weights(weights: Mapping[Any, Any] | Iterable[str]) -> tuple[tuple[int, int], ...]:
    """Check and normalise weights to ``((version, weight), ...)`` in version order.

    Takes a mapping (``{3: 90, 4: 10}``, or the wire form ``{"3": 90, "4": 10}``) or
    CLI words (``["3=90", "4=10"]``). Raises :class:`InvalidWeights` saying what is wrong.
    """
    pairs: list[tuple[int, int]] = []
    if isinstance(weights, Mapping):
        items = list(weights.items())
        for key, value in items:
            pairs.append((_as_int(key, "a version"), _as_int(value, f"the weight of {key}")))
    else:
        for word in weights:
            match = _PAIR.fullmatch(str(word))
            if match is None:
                raise InvalidWeights(
                    f"cannot read {word!r} as VERSION=WEIGHT; write e.g. 3=90 4=10"
                )
            pairs.append((int(match[1]), int(match[2])))
    if not pairs:
        raise InvalidWeights('weights are empty; give at least one version, e.g. {"3": 100}')
    if len(pairs) > MAX_SPLIT:
        raise InvalidWeights(
            f"{len(pairs)} versions in one alias; at most {MAX_SPLIT} may share it"
        )
    seen: set[int] = set()
    for version, weight in pairs:
        if not 1 <= version <= _MAX_VERSION:
            raise InvalidWeights(f"version {version} is out of range; versions start at 1")
        if version in seen:
            raise InvalidWeights(f"version {version} is listed twice")
        seen.add(version)
        if not 1 <= weight <= TOTAL_WEIGHT:
            raise InvalidWeights(
                f"version {version} has weight {weight}; each weight is 1..{TOTAL_WEIGHT} "
                "(drop a version instead of giving it 0)"
            )
    total = sum(w for _, w in pairs)
    if total != TOTAL_WEIGHT:
        raise InvalidWeights(
            f"weights sum to {total}; they must sum to {TOTAL_WEIGHT} (percent), e.g. 3=90 4=10"
        )
    return tuple(sorted(pairs))


@dataclass(frozen=True, slots=True)
class AliasTarget:
    """What ``name@alias`` points at: ``GET/PUT /api/v1/models/{name}/aliases/{alias}``.

    ``weights`` is ``((version, weight), ...)`` in ascending version order, summing to
    100. ``version`` is the primary version: the largest weight, the lower version on a
    tie (the incumbent of a 50/50 split). It is what the plain alias API reports.

    >>> t = AliasTarget.from_dict({"name": "m", "alias": "prod", "weights": {"3": 90, "4": 10}})
    >>> t.version, t.canary, t.pick("user-1") in (3, 4)
    (3, ((4, 10),), True)
    """

    name: str
    alias: str
    weights: tuple[tuple[int, int], ...]
    updated_at: str | None = None

    def __post_init__(self) -> None:
        check_name(self.name)
        check_alias(self.alias)
        object.__setattr__(self, "weights", parse_weights(dict(self.weights)))

    @classmethod
    def single(cls, name: str, alias: str, version: int) -> AliasTarget:
        return cls(name, alias, ((int(version), TOTAL_WEIGHT),))

    @property
    def version(self) -> int:
        return min(self.weights, key=lambda vw: (-vw[1], vw[0]))[0]

    @property
    def versions(self) -> tuple[int, ...]:
        return tuple(v for v, _ in self.weights)

    @property
    def is_split(self) -> bool:
        return len(self.weights) > 1

    @property
    def canary(self) -> tuple[tuple[int, int], ...]:
        """The versions other than the primary, with their weights."""
        primary = self.version
        return tuple(vw for vw in self.weights if vw[0] != primary)

    def weight_of(self, version: int) -> int:
        return dict(self.weights).get(int(version), 0)

    def pick(self, key: str | bytes | None = None) -> int:
        """The version for ``key`` (a user id, a request id); None: this process's key.

        Deterministic for a key and fixed weights; over many keys each version gets
        its weight's share.
        """
        if len(self.weights) == 1:
            return self.weights[0][0]
        if key is None:
            key = _process_key()
        raw = key if isinstance(key, bytes) else str(key).encode("utf-8")
        digest = hashlib.sha256(f"{self.name}@{self.alias}\0".encode() + raw).digest()
        point = int.from_bytes(digest[:8], "big") % TOTAL_WEIGHT
        for version, weight in self.weights:
            if point < weight:
                return version
            point -= weight
        raise AssertionError("weights sum to TOTAL_WEIGHT")  # pragma: no cover

    def to_dict(self) -> dict[str, Any]:
        """The wire form: ``{"name", "alias", "version", "weights": {"3": 90}, "updated_at"}``."""
        return {
            "name": self.name,
            "alias": self.alias,
            "version": self.version,
            "weights": {str(v): w for v, w in self.weights},
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> AliasTarget:
        """Decode the wire form; a document without ``weights`` is a plain alias."""
        try:
            name, alias = str(doc["name"]), str(doc["alias"])
            raw = doc.get("weights")
            if raw is None:
                return cls.single(name, alias, _as_int(doc["version"], "version"))
            if not isinstance(raw, Mapping):
                raise InvalidWeights(f"weights must be an object, not {type(raw).__name__}")
            updated = doc.get("updated_at")
            return cls(name, alias, parse_weights(raw), None if updated is None else str(updated))
        except KeyError as exc:
            raise InvalidWeights(f"alias document lacks {exc.args[0]!r}") from exc


@dataclass(frozen=True, slots=True)
class AliasEvent:
    """One audited change of an alias: ``GET .../aliases/{alias}/history`` items.

    ``weights`` is the split after the change (None when the alias was deleted),
    ``previous`` the split before it (None when the alias was created).
    """

    id: int
    name: str
    alias: str
    action: str  # "set" | "delete"
    weights: dict[int, int] | None
    previous: dict[int, int] | None
    changed_by: str | None
    note: str | None
    at: str

    def to_dict(self) -> dict[str, Any]:
        def wire(w: dict[int, int] | None) -> dict[str, int] | None:
            return None if w is None else {str(v): n for v, n in sorted(w.items())}

        return {
            "id": self.id,
            "name": self.name,
            "alias": self.alias,
            "action": self.action,
            "weights": wire(self.weights),
            "previous": wire(self.previous),
            "changed_by": self.changed_by,
            "note": self.note,
            "at": self.at,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> AliasEvent:
        def split(raw: Any) -> dict[int, int] | None:
            return None if raw is None else dict(parse_weights(raw))

        return cls(
            id=int(doc["id"]),
            name=str(doc["name"]),
            alias=str(doc["alias"]),
            action=str(doc["action"]),
            weights=split(doc.get("weights")),
            previous=split(doc.get("previous")),
            changed_by=doc.get("changed_by"),
            note=doc.get("note"),
            at=str(doc["at"]),
        )
