"""The plug-in contracts of the converters layer.

Three roles, each a small class registered in ``converters._registry``:

* a :class:`Framework` recognises an upload cheaply (``sniff``, safe to run in the
  API process: it never executes code from the file nor imports the framework) and,
  inside the isolated worker only, loads it as a :class:`SourceModel`;
* a :class:`SourceModel` runs the uploaded model on named numpy inputs, and knows its
  signature with meaningful input/output names;
* a :class:`Converter`, registered under ``(framework, target)``, writes one artifact
  (a file or a folder) for a source model.

Validation is one shared routine (``converters._validation``) that compares
``SourceModel.predict`` with the artifact loaded through ``runtime.load_file``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np

from converters._protocol import ServerPolicy
from runtime import Signature

__all__ = [
    "NO_PICKLES",
    "ConversionOutput",
    "Converter",
    "Framework",
    "OptionSpec",
    "InputSet",
    "Sample",
    "SourceModel",
    "Tolerance",
]


@dataclass(frozen=True, slots=True)
class Tolerance:
    """Absolute and relative tolerance for float outputs; labels always match exactly."""

    atol: float = 1e-4
    rtol: float = 1e-3

    def to_dict(self) -> dict[str, float]:
        return {"atol": self.atol, "rtol": self.rtol}


@dataclass(frozen=True)
class InputSet:
    """One named set of validation inputs (batch on axis 0).

    ``decides``: the set takes part in the artifact's verdict (the uploaded sample,
    the generated in-domain rows, a batch of one); otherwise it is run and reported
    only (the extreme rows far outside the data the model was fitted on).
    """

    name: str  # "sample" | "in-domain" | "batch-1" | "extreme"
    inputs: dict[str, Any]
    decides: bool = True
    origin: str = ""  # where the rows come from, in words

    @property
    def rows(self) -> int:
        first = next(iter(self.inputs.values()))
        return int(len(first))


@dataclass(frozen=True)
class Sample:
    """Named validation inputs, the batch on axis 0 of every array.

    ``inputs`` are the rows converters may use (probing shapes, tracing); ``sets`` the
    named sets validation runs. Without sets, validation runs ``inputs`` and its first
    row alone, both deciding.
    """

    inputs: dict[str, Any]  # ndarray per input, or a pandas DataFrame under "__frame__"
    origin: str = "generated"  # "uploaded" | "generated" | "uploaded+generated"
    sets: tuple[InputSet, ...] = ()

    @property
    def rows(self) -> int:
        first = next(iter(self.inputs.values()))
        return int(len(first))


class SourceModel(Protocol):
    """An uploaded model loaded in the worker, ready to be run and converted."""

    framework: str
    signature: Signature
    native: object  # the framework's own object (estimator, ExportedProgram, keras.Model, ...)

    def predict(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the source model; outputs keyed by the names in ``signature.outputs``."""
        ...

    def generate_inputs(self, rows: int, seed: int = 0) -> dict[str, np.ndarray]:
        """Inputs built from the signature: batch 1 rows, zeros, large magnitudes, random."""
        ...


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """One converter option a framework's ``load`` reads from an upload's ``options``.

    ``kind`` is the JSON type the value must have; ``example`` completes "option X
    must be ..." in the message that refuses another; ``check``, when set, validates
    the value further and raises ``InvalidUpload`` (it runs in the API process, so it
    imports no training framework).
    """

    kind: type
    example: str
    check: Callable[[Any], object] | None = None


#: The policy a sniffer assumes when none is given: no pickles.
NO_PICKLES = ServerPolicy()


class Framework(Protocol):
    """Recognises and loads one framework's upload formats.

    Registered by name (built-in, or the ``modelport.converters`` entry-point group);
    detection asks every registered framework's ``sniff`` in registration order.
    Optionally a plug-in also has ``explain(path, filename) -> str | None``: asked when
    no plug-in claimed an upload, it words a near miss of its own format ("is an HDF5
    file without a Keras model_config ...") or returns None; and ``accepts: str``, what
    it takes in words ("XGBoost (.json/.ubj from Booster.save_model)") for the list of
    accepted uploads that ends every refusal (else its name and ``extensions``).
    """

    name: ClassVar[str]
    extensions: ClassVar[tuple[str, ...]]  # accepted file name endings, for messages
    #: the converter options ``load`` reads; an upload with another key is refused
    options: ClassVar[Mapping[str, OptionSpec]]

    def sniff(self, path: Path, filename: str, policy: ServerPolicy = NO_PICKLES) -> bool:
        """Cheap, safe content check: is this file an upload of this framework?

        Runs in the API process: never executes code from the file nor imports the
        training framework. May raise ``InvalidUpload``/``UnsupportedMediaType`` to
        refuse the file with a reason; returns False when the file is not its own.
        """
        ...

    def load(
        self, path: Path, filename: str, options: Mapping[str, Any], policy: ServerPolicy
    ) -> SourceModel:
        """Load the upload (worker process only). Raises ``InvalidUpload`` with a reason."""
        ...


@dataclass
class ConversionOutput:
    """What a converter wrote: ``path`` is a file or a folder inside the out dir."""

    path: Path
    media_type: str
    signature: Signature
    converter: dict[str, Any] = field(default_factory=dict)  # name, versions, opset, notes


class Converter(Protocol):
    """Converts a source model of ``framework`` into a ``target`` artifact."""

    framework: ClassVar[str]  # "onnx" | "sklearn" | "torch" | "keras" | "tensorflow"
    target: ClassVar[str]  # "onnx" | "pmml" | "savedmodel"
    tolerance: ClassVar[Tolerance]

    def applies(self, source: SourceModel) -> str | None:
        """None when the target applies, else the reason it does not (artifact ``skipped``)."""
        ...

    def convert(self, source: SourceModel, sample: Sample, out_dir: Path) -> ConversionOutput:
        """Write the artifact under ``out_dir``. Raises ``ConversionError`` with a reason."""
        ...
