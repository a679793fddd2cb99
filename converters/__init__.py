"""modelport converters: detect an upload's framework, convert it to portable formats,
and validate every artifact numerically against the source model.

The API process only uses the cheap, safe parts (``detect_framework``,
``applicable_targets``); loading and converting happen in the isolated worker
(``python -m converters.worker JOB_DIR``).

>>> from converters import detect_framework, applicable_targets
>>> fw = detect_framework(path, "model.skops")      # doctest: +SKIP
>>> applicable_targets("sklearn")
['onnx', 'pmml']
"""

from converters._base import (
    NO_PICKLES,
    ConversionOutput,
    Converter,
    Framework,
    InputSet,
    OptionSpec,
    Sample,
    SourceModel,
    Tolerance,
)
from converters._detect import accepted_uploads, detect_framework
from converters._errors import ProtocolError, RegistrationError
from converters._forkserver import (
    FRAMEWORK_GROUPS,
    ForkServer,
    ForkServerDied,
    JobExit,
    framework_group,
)
from converters._options import OPTIONS_MAX_BYTES, check_options, declared_options
from converters._postprocess import POSTPROCESS_FRAMEWORKS, PostProcess
from converters._protocol import (
    PROGRESS_FILE,
    PROTOCOL_VERSION,
    REQUEST_FILE,
    RESULT_FILE,
    ArtifactResult,
    PreprocessInput,
    ServerPolicy,
    WorkerRequest,
    WorkerResult,
)
from converters._registry import (
    ENTRY_POINT_GROUP,
    FRAMEWORKS,
    TARGETS,
    applicable_targets,
    framework_names,
    get_converter,
    get_framework,
    register_converter,
    register_framework,
    registered_converters,
    registered_frameworks,
)

__all__ = [
    "accepted_uploads",
    "NO_PICKLES",
    "OPTIONS_MAX_BYTES",
    "OptionSpec",
    "check_options",
    "declared_options",
    "framework_names",
    "ArtifactResult",
    "ConversionOutput",
    "Converter",
    "ENTRY_POINT_GROUP",
    "FRAMEWORKS",
    "FRAMEWORK_GROUPS",
    "ForkServer",
    "ForkServerDied",
    "Framework",
    "InputSet",
    "JobExit",
    "POSTPROCESS_FRAMEWORKS",
    "PROGRESS_FILE",
    "PROTOCOL_VERSION",
    "PostProcess",
    "PreprocessInput",
    "ProtocolError",
    "REQUEST_FILE",
    "RESULT_FILE",
    "RegistrationError",
    "Sample",
    "ServerPolicy",
    "SourceModel",
    "TARGETS",
    "Tolerance",
    "WorkerRequest",
    "WorkerResult",
    "applicable_targets",
    "detect_framework",
    "framework_group",
    "get_converter",
    "get_framework",
    "register_converter",
    "register_framework",
    "registered_converters",
    "registered_frameworks",
]
