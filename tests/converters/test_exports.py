"""The public names of the converters package are pinned."""

import converters


def test_public_api() -> None:
    assert sorted(converters.__all__) == sorted(
        [
            "NO_PICKLES",
            "accepted_uploads",
            "FRAMEWORK_GROUPS",
            "ForkServer",
            "ForkServerDied",
            "JobExit",
            "framework_group",
            "OPTIONS_MAX_BYTES",
            "OptionSpec",
            "check_options",
            "declared_options",
            "framework_names",
            "ArtifactResult",
            "POSTPROCESS_FRAMEWORKS",
            "PostProcess",
            "PreprocessInput",
            "ENTRY_POINT_GROUP",
            "InputSet",
            "PROGRESS_FILE",
            "PROTOCOL_VERSION",
            "ProtocolError",
            "REQUEST_FILE",
            "RESULT_FILE",
            "ServerPolicy",
            "WorkerRequest",
            "WorkerResult",
            "FRAMEWORKS",
            "TARGETS",
            "ConversionOutput",
            "Converter",
            "Framework",
            "RegistrationError",
            "Sample",
            "SourceModel",
            "Tolerance",
            "applicable_targets",
            "detect_framework",
            "get_converter",
            "get_framework",
            "register_converter",
            "register_framework",
            "registered_converters",
            "registered_frameworks",
        ]
    )
    for name in converters.__all__:
        assert getattr(converters, name) is not None
