"""The documents that cross a boundary, typed once: model, version, artifact, source,
validation report, job and problem; and the manifest ``modelport pull`` leaves beside
an artifact.

The registry writes them, the REST API sends them, the runtime, the SDK, the CLI and the
web UI read them; every reader imports these classes (``runtime`` is the one layer all of
them may import) and decodes a document once, where it arrives:

>>> doc = VersionDoc.from_json(response.json())          # doctest: +SKIP
>>> doc.artifact("onnx").validation.decided_by           # doctest: +SKIP
('in-domain', 'batch-1')

Each class is a frozen, slotted dataclass with one decoder, ``from_json(mapping)``, and
one encoder, ``to_json()``. Decoding is strict about the type of every field it knows
(a wrong one raises :class:`~runtime.errors.DocumentError` naming the field, e.g.
``version document: artifacts[0].size must be an integer, got 'big' (str)``) and
tolerant of fields it does not know: they are kept in ``extra`` (``extensions`` for a
problem) and written back by ``to_json()``, so a newer server's additions survive an
older reader. Fields an older writer did not send take their defaults.

Only the standard library is used here (no pydantic): the API derives its response
models from these classes (``api/schemas.py``), and ``import runtime`` stays cheap
because this module is imported when a document is first decoded.
"""

# No ``from __future__ import annotations``: the fields' types are objects when the
# classes are made, so the first decode does not compile every annotation (typing's
# get_type_hints took about 2 ms for these classes).
import datetime as _dt
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from types import NoneType, UnionType
from typing import Any, ClassVar, Self

from runtime._documents import SERVABLE_STATUSES
from runtime._signature import Signature, TensorSpec
from runtime.errors import DocumentError

__all__ = [
    "ArtifactDoc",
    "ArtifactFile",
    "Document",
    "DocumentError",
    "Finding",
    "JobDoc",
    "ModelDoc",
    "OutputReport",
    "Problem",
    "PullManifest",
    "SampleBatch",
    "SampleInfo",
    "SetReport",
    "SourceDoc",
    "Tolerance",
    "UploadDoc",
    "ValidationReport",
    "VersionDoc",
]

_Decode = Callable[[Any, str], Any]


class Document:
    """The decoder and encoder every wire document shares (its fields are its schema)."""

    __slots__ = ()
    #: What an error message calls the document ("version document").
    _kind: ClassVar[str] = "document"
    #: The field that keeps the keys this class does not know.
    _extra: ClassVar[str] = "extra"
    _plan: ClassVar[tuple[tuple[str, _Decode, bool], ...] | None] = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, where: str = "") -> Self:
        """The document from its JSON object (a mapping); unknown keys go to ``extra``.
        ``where`` is the path of a nested document, for error messages."""
        if where:
            return cls._decode(data, where)
        try:
            return cls._decode(data, "")
        except DocumentError as exc:
            raise DocumentError(f"{cls._kind}: {exc}") from None

    @classmethod
    def _decode(cls, data: Any, where: str) -> Self:
        if not isinstance(data, Mapping):
            raise _wrong(where or "the document", "an object", data)
        plan = cls.__dict__.get("_plan") or _plan_of(cls)
        values: dict[str, Any] = {}
        for name, decode, required in plan:
            path = f"{where}.{name}" if where else name
            if name in data:
                values[name] = decode(data[name], path)
            elif required:
                raise DocumentError(f"{path} is missing (a required field)")
        known = {name for name, _, _ in plan}
        extra = {str(k): v for k, v in data.items() if k not in known}
        if extra:
            values[cls._extra] = extra
        return cls(**values)

    # One generic __eq__ / __hash__ / __repr__ for every document instead of one generated
    # per class: making the classes (the first decode of a process) costs half as much.
    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f.name) for f in fields(self) if f.compare)  # type: ignore[arg-type]

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        shown = (f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.repr)  # type: ignore[arg-type]
        return f"{type(self).__name__}({', '.join(shown)})"

    def to_json(self) -> dict[str, Any]:
        """The JSON object of the document (strict JSON types; ``extra`` written back)."""
        out: dict[str, Any] = {}
        extra: Mapping[str, Any] = {}
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if f.name == self._extra:
                extra = value
            else:
                out[f.name] = _encode(value)
        for key, value in extra.items():
            out.setdefault(key, value)
        return out


def _unknown() -> Any:
    return field(default_factory=dict, repr=False, compare=False)


# -- decoding ------------------------------------------------------------------------------


def _plan_of(cls: type[Document]) -> tuple[tuple[str, _Decode, bool], ...]:
    hints: dict[str, Any] = {}
    plan = []
    for f in fields(cls):  # type: ignore[arg-type]
        if f.name == cls._extra:
            continue
        hint = f.type
        if isinstance(hint, str):  # a subclass written with postponed annotations
            hints = hints or typing.get_type_hints(cls)
            hint = hints[f.name]
        required = f.default is MISSING and f.default_factory is MISSING
        plan.append((f.name, _decoder(hint), required))
    cls._plan = tuple(plan)
    return cls._plan


def _wrong(path: str, expected: str, value: Any) -> DocumentError:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return DocumentError(f"{path} must be {expected}, got {shown} ({type(value).__name__})")


def _scalar(kind: type, expected: str) -> _Decode:
    def decode(value: Any, path: str) -> Any:
        if isinstance(value, kind) and not (kind is not bool and isinstance(value, bool)):
            return value
        raise _wrong(path, expected, value)

    return decode


def _float(value: Any, path: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise _wrong(path, "a number", value)


def _datetime(value: Any, path: str) -> _dt.datetime:
    if isinstance(value, _dt.datetime):
        return value
    if isinstance(value, str):
        try:
            return _dt.datetime.fromisoformat(value)
        except ValueError:
            pass
    raise _wrong(path, "an ISO 8601 date-time", value)


def _int_key(value: Any, path: str) -> int:
    """An integer key of a JSON object, which JSON writes as a string ("3")."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return _SIMPLE[int](value, path)  # type: ignore[no-any-return]


def _any(value: Any, path: str) -> Any:
    return value


def _signature(value: Any, path: str) -> Signature:
    if isinstance(value, Signature):
        return value
    if not isinstance(value, Mapping):
        raise _wrong(path, "a signature object", value)
    specs: dict[str, tuple[TensorSpec, ...]] = {}
    for side in ("inputs", "outputs"):
        items = value.get(side) or []
        if not isinstance(items, list | tuple):
            raise _wrong(f"{path}.{side}", "a list", items)
        out = []
        for i, spec in enumerate(items):
            where = f"{path}.{side}[{i}]"
            if not isinstance(spec, Mapping):
                raise _wrong(where, "a tensor object", spec)
            name = _STR(spec.get("name"), f"{where}.name")
            dtype = _STR(spec.get("dtype"), f"{where}.dtype")
            shape = spec.get("shape")
            if shape is not None:
                if not isinstance(shape, list | tuple) or not all(
                    d is None
                    or isinstance(d, str)
                    or (isinstance(d, int) and not isinstance(d, bool))
                    for d in shape
                ):
                    raise _wrong(f"{where}.shape", "a list of int, str or null", shape)
                shape = tuple(shape)
            out.append(TensorSpec(name, dtype, shape))
        specs[side] = tuple(out)
    return Signature(specs["inputs"], specs["outputs"])


_STR = _scalar(str, "a string")
_SIMPLE: dict[Any, _Decode] = {
    str: _STR,
    int: _scalar(int, "an integer"),
    bool: _scalar(bool, "true or false"),
    float: _float,
    _dt.datetime: _datetime,
    Any: _any,
    Signature: _signature,
}
_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def _decoder(hint: Any) -> _Decode:
    simple = _SIMPLE.get(hint)
    if simple is not None:
        return simple
    if isinstance(hint, type) and issubclass(hint, Document):
        doc = hint

        def decode_doc(value: Any, path: str) -> Any:
            if isinstance(value, doc):  # already decoded (a part built by its owner)
                return value
            if not isinstance(value, Mapping):
                raise _wrong(path, "an object", value)
            return doc.from_json(value, where=path)

        return decode_doc
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, UnionType):
        return _union(args)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        item = _decoder(args[0])

        def decode_list(value: Any, path: str) -> tuple[Any, ...]:
            if not isinstance(value, list | tuple):
                raise _wrong(path, "a list", value)
            return tuple(item(v, f"{path}[{i}]") for i, v in enumerate(value))

        return decode_list
    if origin in (Mapping, dict):
        key = _int_key if args[0] is int else _decoder(args[0])
        val = _decoder(args[1])

        def decode_map(value: Any, path: str) -> dict[Any, Any]:
            if not isinstance(value, Mapping):
                raise _wrong(path, "an object", value)
            return {key(k, f"{path} key"): val(v, f"{path}.{k}") for k, v in value.items()}

        return decode_map
    raise TypeError(f"no wire decoder for {hint!r}")  # a programming error in this module


def _union(args: tuple[Any, ...]) -> _Decode:
    options = [a for a in args if a is not NoneType]
    nullable = len(options) < len(args)
    decoders = [_decoder(a) for a in options]
    expected = " or ".join(_NAMES.get(a, getattr(a, "__name__", str(a))) for a in options)
    if nullable:
        expected += " or null"

    def decode(value: Any, path: str) -> Any:
        if value is None:
            if nullable:
                return None
            raise _wrong(path, expected, value)
        if len(decoders) == 1:
            return decoders[0](value, path)
        for one in decoders:
            try:
                return one(value, path)
            except DocumentError:
                continue
        raise _wrong(path, expected, value)

    return decode


# -- encoding ------------------------------------------------------------------------------


def _encode(value: Any) -> Any:
    if isinstance(value, Document):
        return value.to_json()
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if isinstance(value, Signature):
        return value.to_dict()
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _encode(v) for k, v in value.items()}
    return value


# -- the documents -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Tolerance(Document):
    """``|got - ref| <= atol + rtol * |ref|`` for float outputs."""

    _kind: ClassVar[str] = "tolerance"
    atol: float
    rtol: float
    extra: Mapping[str, Any] = _unknown()


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class OutputReport(Document):
    """One output compared over one input set (or over every deciding set together).
    Non-finite differences are the strings ``"inf"`` / ``"nan"`` (strict JSON)."""

    _kind: ClassVar[str] = "output report"
    name: str
    compare: str = "allclose"  # "exact" (labels) | "allclose" (floats)
    dtype: str = ""
    shape: tuple[int | str | None, ...] = ()
    max_abs_diff: float | str = 0.0
    max_rel_diff: float | str = 0.0
    mismatches: int = 0
    samples: int = 0
    tolerance: Tolerance | None = None  # None for an exact comparison
    passed: bool = False
    weak: bool = False
    reasons: tuple[str, ...] = ()
    extra: Mapping[str, Any] = _unknown()

    @property
    def exact(self) -> bool:
        return self.compare == "exact"


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class SetReport(Document):
    """One named input set: ``sample``, ``in-domain``, ``batch-1`` (they decide the
    status) or ``extreme`` (reported only)."""

    _kind: ClassVar[str] = "input set report"
    name: str
    role: str = "decides"  # "decides" | "reported"
    origin: str = ""
    rows: int = 0
    status: str = ""  # decides: passed | failed; reported: agrees | diverges | error
    error: str | None = None  # why a reported set could not run
    outputs: tuple[OutputReport, ...] = ()
    extra: Mapping[str, Any] = _unknown()

    @property
    def decides(self) -> bool:
        return self.role == "decides"


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Finding(Document):
    """What one output did on a reported (not deciding) set, explained in plain words."""

    _kind: ClassVar[str] = "finding"
    set: str
    output: str | None = None  # None when the set could not run
    status: str = ""  # agrees | diverges | error
    mismatches: int | None = None
    samples: int | None = None
    max_abs_diff: float | str | None = None
    max_rel_diff: float | str | None = None
    explanation: str = ""
    extra: Mapping[str, Any] = _unknown()


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class SampleBatch(Document):
    _kind: ClassVar[str] = "sample batch"
    name: str
    rows: int = 0
    extra: Mapping[str, Any] = _unknown()


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class SampleInfo(Document):
    """Where the validation rows came from (kept for readers older than ``sets``)."""

    _kind: ClassVar[str] = "sample"
    origin: str = ""
    rows: int = 0
    batches: tuple[SampleBatch, ...] = ()
    extra: Mapping[str, Any] = _unknown()


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class ValidationReport(Document):
    """How an artifact's status was decided (docs/validation.md, ``artifact.validation``).

    ``status`` comes from the deciding sets only (``decided_by``); ``outputs`` are the
    per-output figures over those sets together; ``sets`` has each set alone, and
    ``findings`` what the reported sets (``extreme``) showed, which never changes the
    status. ``recipe`` reproduces the conversion by hand (``filename``, ``usage``,
    ``versions``, ``pip``, ``script``; or ``error`` when there is none).
    """

    _kind: ClassVar[str] = "validation report"
    status: str = ""  # passed | weak | failed
    passed: bool = False
    weak: bool = False
    summary: str = ""
    decided_by: tuple[str, ...] = ()
    loader: str = ""
    tolerance: Tolerance | None = None
    sample: SampleInfo | None = None
    outputs: tuple[OutputReport, ...] = ()
    missing_outputs: tuple[str, ...] = ()
    sets: tuple[SetReport, ...] = ()
    findings: tuple[Finding, ...] = ()
    recipe: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = _unknown()

    @property
    def deciding_sets(self) -> tuple[SetReport, ...]:
        return tuple(s for s in self.sets if s.decides)

    @property
    def reported_sets(self) -> tuple[SetReport, ...]:
        return tuple(s for s in self.sets if not s.decides)


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class SourceDoc(Document):
    """The uploaded file a version was made from."""

    _kind: ClassVar[str] = "source"
    filename: str
    sha256: str
    size: int
    extra: Mapping[str, Any] = _unknown()


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class ArtifactFile(Document):
    """One file of a folder artifact (a SavedModel), as packed into its tar."""

    _kind: ClassVar[str] = "artifact file"
    path: str
    size: int
    sha256: str
    extra: Mapping[str, Any] = _unknown()


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class ArtifactDoc(Document):
    """One stored format of a version: ``source`` (the upload), ``onnx``, ``pmml`` or
    ``savedmodel``. ``sha256``/``size`` are None until its bytes are stored."""

    _kind: ClassVar[str] = "artifact"
    format: str
    sha256: str | None
    size: int | None
    media_type: str | None
    status: str
    validation: ValidationReport | None = None
    converter: Mapping[str, Any] | None = None
    signature: Signature | None = None
    files: tuple[ArtifactFile, ...] | None = None
    error: str | None = None
    extra: Mapping[str, Any] = _unknown()

    @property
    def servable(self) -> bool:
        """True when ``runtime.load`` uses this artifact without being forced."""
        return self.format != "source" and self.status in SERVABLE_STATUSES


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class ModelDoc(Document):
    """A registered model (``GET /models/{name}``); its versions are listed separately.
    ``aliases`` maps each alias to its primary version, ``alias_weights`` to its split
    (version -> percent; ``{3: 100}`` for a plain alias)."""

    _kind: ClassVar[str] = "model document"
    name: str
    description: str
    tags: Mapping[str, str]
    created_at: _dt.datetime
    updated_at: _dt.datetime
    latest_version: int | None
    version_count: int
    aliases: Mapping[str, int]
    alias_weights: Mapping[str, Mapping[int, int]] = field(default_factory=dict)
    extra: Mapping[str, Any] = _unknown()


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class VersionDoc(Document):
    """One immutable version of a model, with its artifacts (``GET …/versions/N``)."""

    _kind: ClassVar[str] = "version document"
    name: str
    version: int
    status: str  # pending | converting | ready | failed
    framework: str
    source: SourceDoc
    description: str
    tags: Mapping[str, str]
    signature: Signature | None
    lineage: Mapping[str, Any] | None
    created_by: str | None
    created_at: _dt.datetime
    updated_at: _dt.datetime
    aliases: tuple[str, ...]
    error: str | None
    job_id: str | None
    targets: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    artifacts: tuple[ArtifactDoc, ...] = ()
    extra: Mapping[str, Any] = _unknown()

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    def artifact(self, format: str) -> ArtifactDoc | None:
        """The artifact of that format, or None."""
        return next((a for a in self.artifacts if a.format == format), None)


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class UploadDoc(Document):
    """The answer to an upload (``202 Accepted``): the new version, still being
    converted, and the job that converts it (``GET /jobs/{job_id}``)."""

    _kind: ClassVar[str] = "upload answer"
    name: str
    version: int
    status: str  # pending, until the job has started
    job_id: str
    extra: Mapping[str, Any] = _unknown()

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class JobDoc(Document):
    """A unit of conversion work (``GET /jobs/{id}``). ``timings`` are seconds per stage
    (queue wait, load, convert, validate, ...); ``progress`` what a running job has done."""

    _kind: ClassVar[str] = "job"
    id: str
    kind: str
    name: str
    version: int
    status: str  # queued | running | succeeded | failed
    attempts: int
    error: str | None
    created_at: _dt.datetime
    started_at: _dt.datetime | None
    finished_at: _dt.datetime | None
    timings: Mapping[str, float] | None = None
    progress: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = _unknown()


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Problem(Document):
    """An RFC 9457 problem document (``application/problem+json``).

    ``type`` is a URI reference, ``/problems/VersionNotFound`` for this API's own
    problems: :attr:`kind` is its last segment, the name of the
    :mod:`runtime.errors` class it stands for. Members beyond the five of the RFC
    (``errors``, ...) are ``extensions``.
    """

    _kind: ClassVar[str] = "problem document"
    _extra: ClassVar[str] = "extensions"
    type: str = "about:blank"
    title: str = ""
    status: int | None = None
    detail: str | None = None
    instance: str | None = None
    extensions: Mapping[str, Any] = _unknown()

    @property
    def kind(self) -> str:
        """The last segment of ``type`` ("VersionNotFound"); "" for ``about:blank``."""
        return "" if self.type == "about:blank" else self.type.rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class PullManifest(Document):
    """What ``modelport pull`` writes beside the artifact (``modelport.json``) and
    ``runtime.load(folder)`` reads: which version it is, the artifact's file name in
    that folder and the sha256 its bytes must still hash to."""

    _kind: ClassVar[str] = "pull manifest"
    name: str
    version: int
    format: str
    filename: str
    sha256: str | None = None
    size: int | None = None
    framework: str | None = None
    signature: Signature | None = None
    files: tuple[ArtifactFile, ...] | None = None
    extra: Mapping[str, Any] = _unknown()

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"
