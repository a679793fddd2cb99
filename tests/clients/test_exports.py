"""The public names of the clients package are pinned."""

import clients


def test_exported_names():
    assert sorted(clients.__all__) == sorted(
        [
            "DEFAULT_URL",
            "MANIFEST_NAME",
            "AliasInfo",
            "ArtifactInfo",
            "JobInfo",
            "ModelInfo",
            "PushResult",
            "Registry",
            "RegistryError",
            "ResourceNotFound",
            "VersionInfo",
            "WaitTimeout",
        ]
    )
    # the registry's fallback errors are decoded by the runtime's one problem map, so
    # they are the runtime's classes, exported here under the same names
    from runtime import errors

    for name in clients.__all__:
        obj = getattr(clients, name)
        if name in ("RegistryError", "ResourceNotFound"):
            assert obj is getattr(errors, name)
            continue
        assert name.isupper() or obj.__module__.startswith("clients")


def test_results_are_frozen():
    import dataclasses

    import pytest

    info = clients.AliasInfo("m", "prod", 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.version = 2
