"""Keras cases: a Sequential model (.keras and legacy .h5) and a two-input functional model."""

from __future__ import annotations

from pathlib import Path

from tests.frameworks._cases import FrameworkCase


def build_sequential():
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((4,), name="features"),
            keras.layers.Dense(8, activation="relu", name="hidden"),
            keras.layers.Dense(3, name="scores"),
        ]
    )


def build_two_inputs():
    import keras

    keras.utils.set_random_seed(1)
    numeric = keras.Input((3,), name="numeric")
    extra = keras.Input((2,), name="extra")
    joined = keras.layers.Concatenate(name="joined")([numeric, extra])
    hidden = keras.layers.Dense(6, activation="tanh", name="hidden")(joined)
    value = keras.layers.Dense(1, name="value")(hidden)
    logits = keras.layers.Dense(2, name="logits")(hidden)
    return keras.Model([numeric, extra], [value, logits], name="two_inputs")


def build_with_lambda():
    import keras

    inputs = keras.Input((4,), name="features")
    doubled = keras.layers.Lambda(lambda t: t * 2, name="doubler")(inputs)
    return keras.Model(inputs, keras.layers.Dense(2, name="out")(doubled))


def _saver(factory, filename: str):
    def build(folder: Path) -> Path:
        path = folder / filename
        factory().save(str(path))
        return path

    return build


_BOTH = {"onnx": "passed", "savedmodel": "passed"}

CASES = [
    FrameworkCase("keras-sequential", "keras", _saver(build_sequential, "seq.keras"), expect=_BOTH),
    FrameworkCase("keras-sequential-h5", "keras", _saver(build_sequential, "seq.h5"), expect=_BOTH),
    FrameworkCase("keras-two-inputs", "keras", _saver(build_two_inputs, "two.keras"), expect=_BOTH),
]
