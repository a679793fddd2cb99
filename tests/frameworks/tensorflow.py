"""TensorFlow cases: a tf.Module SavedModel, zipped (top folder) and as a .tar.gz (root)."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

from tests.frameworks._cases import FrameworkCase


def build_module():
    import numpy as np
    import tensorflow as tf

    class Scorer(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            rng = np.random.default_rng(0)
            self.w = tf.Variable(rng.standard_normal((4, 3)).astype("float32"))
            self.b = tf.Variable(rng.standard_normal(3).astype("float32"))

        @tf.function(
            input_signature=[
                tf.TensorSpec([None, 4], tf.float32, name="x"),
                tf.TensorSpec([None, 1], tf.float32, name="scale"),
            ]
        )
        def serve(self, x, scale):
            logits = tf.matmul(x, self.w) + self.b
            return {"logits": logits * scale, "probabilities": tf.nn.softmax(logits)}

    return Scorer()


def save_folder(folder: Path) -> Path:
    import tensorflow as tf

    module = build_module()
    target = folder / "scorer"
    tf.saved_model.save(module, str(target), signatures={"serving_default": module.serve})
    return target


def _zipped(folder: Path) -> Path:
    saved = save_folder(folder / "src")
    return Path(shutil.make_archive(str(folder / "scorer"), "zip", saved.parent, saved.name))


def _tarred(folder: Path) -> Path:
    saved = save_folder(folder / "src")
    path = folder / "scorer.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        for item in sorted(saved.rglob("*")):
            tf.add(item, arcname=str(item.relative_to(saved)), recursive=False)
    return path


_BOTH = {"onnx": "passed", "savedmodel": "passed"}

CASES = [
    FrameworkCase("tensorflow-module-zip", "tensorflow", _zipped, expect=_BOTH),
    FrameworkCase("tensorflow-module-tgz", "tensorflow", _tarred, expect=_BOTH, slow=True),
]
