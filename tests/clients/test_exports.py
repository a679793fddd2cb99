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
    for name in clients.__all__:
        assert name.isupper() or getattr(clients, name).__module__.startswith("clients")


def test_results_are_frozen():
    import dataclasses

    import pytest

    info = clients.AliasInfo("m", "prod", 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.version = 2
