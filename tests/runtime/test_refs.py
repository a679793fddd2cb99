"""The model reference grammar: the one parser, its round trip and its refusals."""

from __future__ import annotations

import pytest

from runtime import ModelRef, check_alias, check_name
from runtime.errors import InvalidModelRef


@pytest.mark.parametrize(
    ("text", "name", "version", "alias", "shown"),
    [
        ("fraud-clf", "fraud-clf", None, None, "fraud-clf:latest"),
        ("fraud-clf:latest", "fraud-clf", None, None, "fraud-clf:latest"),
        ("fraud-clf:3", "fraud-clf", 3, None, "fraud-clf:3"),
        ("fraud-clf:007", "fraud-clf", 7, None, "fraud-clf:7"),
        ("fraud-clf@production", "fraud-clf", None, "production", "fraud-clf@production"),
        ("  a.b_c-9:12 ", "a.b_c-9", 12, None, "a.b_c-9:12"),
    ],
)
def test_valid_references_parse_and_print(text, name, version, alias, shown):
    ref = ModelRef.parse(text)
    assert (ref.name, ref.version, ref.alias) == (name, version, alias)
    assert str(ref) == shown
    assert ModelRef.parse(str(ref)) == ref
    assert ref.is_pinned == (version is not None)


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("", "invalid model name"),
        ("-x:1", "invalid model name"),
        ("a" * 129, "invalid model name"),
        ("m:", "version number"),
        ("m:one", "m@one"),
        ("m:-1", "version number"),
        ("m:0", "versions start at 1"),
        ("m:\u00b2", "version number"),  # a superscript two: isdigit() but not a number
        ("m:\u0663", "version number"),  # an Arabic-Indic three
        ("m:" + "9" * 5000, "version number"),
        ("m@latest", "implicit"),
        ("m@3", "start with a letter"),
        ("m@", "start with a letter"),
        ("m@a/b", "start with a letter"),
    ],
)
def test_invalid_references_say_what_to_do(text, hint):
    with pytest.raises(InvalidModelRef, match=hint):
        ModelRef.parse(text)


def test_a_reference_is_frozen():
    ref = ModelRef.parse("m:1")
    with pytest.raises(AttributeError):
        ref.version = 2  # type: ignore[misc]


def test_version_and_alias_together_are_refused():
    with pytest.raises(InvalidModelRef, match="not both"):
        ModelRef("m", version=1, alias="prod")


@pytest.mark.parametrize("name", ["a", "A1", "x" * 128, "m.v2_final-3"])
def test_check_name_accepts(name):
    assert check_name(name) == name


@pytest.mark.parametrize("alias", ["LATEST", "Latest", "9lives", "_x", "a" * 65])
def test_check_alias_refuses(alias):
    with pytest.raises(InvalidModelRef):
        check_alias(alias)


@pytest.mark.parametrize(
    ("ref", "number"),
    [("7", 7), ("007", 7), ("latest", None), ("production", None), ("²", None), ("3a", None)],
)
def test_number_in_reads_a_rest_ref_without_a_model_name(ref, number):
    assert ModelRef.number_in(ref) == number


@pytest.mark.parametrize("ref", ["7", "007", "latest", "production"])
def test_the_full_rest_parse_agrees_on_the_number(ref):
    assert ModelRef.at("fraud-clf", ref).version == ModelRef.number_in(ref)


@pytest.mark.parametrize("ref", ["0", "000", "9" * 40])
def test_a_number_no_version_can_have_is_not_found(ref):
    from runtime.errors import VersionNotFound

    with pytest.raises(VersionNotFound, match=r"^no version is \d+: versions are numbered"):
        ModelRef.number_in(ref)
    with pytest.raises(VersionNotFound, match="model 'fraud-clf' has no version"):
        ModelRef.at("fraud-clf", ref)
