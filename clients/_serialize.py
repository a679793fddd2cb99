"""Turn what a user hands to ``Registry.push`` into one file the registry accepts.

Accepted: a path to a file (sent as is), a path to a folder (zipped, e.g. a
SavedModel), or an in-memory model: a fitted scikit-learn estimator (skops), a
PyTorch ``nn.Module`` with ``example_inputs`` (``torch.export``), a Keras model
(``.keras``) or a ``tf.Module`` (SavedModel, zipped). A framework is imported
only when an object of that framework is given, detected by the modules of the
object's classes.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import numpy as np

from runtime.errors import InvalidUpload, MissingDependency

__all__ = ["PreparedFile", "framework_of", "prepared_sample", "prepared_upload"]

_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class PreparedFile:
    """A file ready to upload and the framework it was made from (when known)."""

    path: Path
    filename: str
    framework: str | None


def _root_modules(obj: object) -> set[str]:
    return {c.__module__.split(".", 1)[0] for c in type(obj).__mro__}


def framework_of(obj: object) -> str | None:
    """The framework an in-memory model belongs to, from its class hierarchy.

    Keras comes before TensorFlow: a Keras 3 model on the TensorFlow backend is
    also a ``tf.Module``.
    """
    roots = _root_modules(obj)
    for framework, module in (
        ("sklearn", "sklearn"),
        ("torch", "torch"),
        ("keras", "keras"),
        ("tensorflow", "tensorflow"),
    ):
        if module in roots:
            return framework
    if "tf_keras" in roots:
        return "keras"
    return None


def _import(module: str, extra: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependency(
            f"saving this model needs {module!r}: pip install 'modelport[{extra}]'"
        ) from exc


def zip_folder(folder: Path, dest: Path) -> Path:
    """Zip ``folder``'s contents (members at the archive root, sorted, fixed times).

    Links are refused: the registry would refuse them too, and following them
    could pick up files from outside the folder.
    """
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for root, dirs, files in os.walk(folder):
            dirs.sort()
            for entry in sorted(dirs) + sorted(files):
                path = Path(root) / entry
                if path.is_symlink():
                    raise InvalidUpload(
                        f"{path} is a symbolic link; copy the file it points to into the folder"
                    )
            for fname in sorted(files):
                path = Path(root) / fname
                info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), _ZIP_EPOCH)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                with open(path, "rb") as src, zf.open(info, "w") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
    return dest


def _save_sklearn(obj: object, tmp: Path) -> Path:
    sio = _import("skops.io", "sklearn")
    if not _is_fitted(obj):
        raise InvalidUpload(
            f"{type(obj).__name__} is not fitted; call .fit(X, y) before pushing it"
        )
    path = tmp / "model.skops"
    sio.dump(obj, path)
    return path


def _is_fitted(obj: object) -> bool:
    try:
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(obj)
    except Exception:  # NotFittedError, or estimators check_is_fitted cannot judge
        return hasattr(obj, "n_features_in_") or hasattr(obj, "classes_")
    return True


def _save_torch(obj: object, tmp: Path, example_inputs: Any) -> Path:
    torch = _import("torch", "torch")
    if example_inputs is None:
        raise InvalidUpload(
            "a PyTorch module needs example inputs to be exported: "
            "push(model, name, example_inputs=(torch.randn(1, n_features),))"
        )
    args = example_inputs if isinstance(example_inputs, tuple) else (example_inputs,)
    obj.eval()  # type: ignore[attr-defined]
    auto = torch.export.Dim.AUTO
    dynamic = tuple({0: auto} if isinstance(a, torch.Tensor) and a.ndim else None for a in args)
    try:
        program = torch.export.export(obj, args, dynamic_shapes=dynamic)
    except Exception:  # some modules pin the batch dimension: export with static shapes
        try:
            program = torch.export.export(obj, args)
        except Exception as exc:
            raise InvalidUpload(
                f"torch.export could not export {type(obj).__name__}: {exc}; "
                "check that example_inputs match forward()'s arguments"
            ) from exc
    path = tmp / "model.pt2"
    torch.export.save(program, path)
    return path


def _save_keras(obj: object, tmp: Path) -> Path:
    path = tmp / "model.keras"
    obj.save(path)  # type: ignore[attr-defined]
    return path


def _save_tensorflow(obj: object, tmp: Path) -> Path:
    tf = _import("tensorflow", "tensorflow")
    folder = tmp / "saved_model"
    tf.saved_model.save(obj, str(folder))
    return zip_folder(folder, tmp / "saved_model.zip")


def _looks_like_saved_model(folder: Path) -> bool:
    return (folder / "saved_model.pb").is_file() or (folder / "saved_model.pbtxt").is_file()


def _prepare_path(path: Path, tmp: Path, framework: str | None) -> PreparedFile:
    if path.is_file():
        return PreparedFile(path, path.name, framework)
    if path.is_dir():
        if framework is None and _looks_like_saved_model(path):
            framework = "tensorflow"
        dest = zip_folder(path, tmp / f"{path.name or 'model'}.zip")
        return PreparedFile(dest, dest.name, framework)
    raise InvalidUpload(f"{path} does not exist; give a model file, a folder or a model object")


@contextmanager
def prepared_upload(
    obj: object, framework: str | None = None, example_inputs: Any = None
) -> Iterator[PreparedFile]:
    """Yield a file to upload for ``obj``; temporary files are removed afterwards."""
    with TemporaryDirectory(prefix="modelport-push-") as tmp_name:
        tmp = Path(tmp_name)
        if isinstance(obj, str | os.PathLike):
            yield _prepare_path(Path(obj), tmp, framework)
            return
        detected = framework_of(obj)
        savers = {
            "sklearn": lambda: _save_sklearn(obj, tmp),
            "torch": lambda: _save_torch(obj, tmp, example_inputs),
            "keras": lambda: _save_keras(obj, tmp),
            "tensorflow": lambda: _save_tensorflow(obj, tmp),
        }
        if detected is None:
            raise InvalidUpload(
                f"cannot push a {type(obj).__module__}.{type(obj).__qualname__}: give a path to "
                "a model file or folder, a fitted scikit-learn estimator, a torch nn.Module "
                "(with example_inputs=), a Keras model or a tf.Module"
            )
        path = savers[detected]()
        yield PreparedFile(path, path.name, framework or detected)


@contextmanager
def prepared_sample(sample: object) -> Iterator[Path | None]:
    """Yield a ``.npy``/``.npz`` (or the given file) for ``sample``, or ``None``."""
    if sample is None:
        yield None
        return
    if isinstance(sample, str | os.PathLike):
        path = Path(sample)
        if not path.is_file():
            raise InvalidUpload(f"sample file {path} does not exist")
        yield path
        return
    with TemporaryDirectory(prefix="modelport-sample-") as tmp_name:
        tmp = Path(tmp_name)
        if type(sample).__name__ == "DataFrame" and hasattr(sample, "to_parquet"):
            path = tmp / "sample.parquet"
            sample.to_parquet(path)  # keeps column names and per-column dtypes
        elif isinstance(sample, dict):
            path = tmp / "sample.npz"
            arrays: dict[str, Any] = {str(k): _as_array(v) for k, v in sample.items()}
            np.savez(path, **arrays)
        else:
            path = tmp / "sample.npy"
            np.save(path, _as_array(sample), allow_pickle=False)
        yield path


def _as_array(value: Any) -> np.ndarray[Any, Any]:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    elif hasattr(value, "to_numpy"):  # a pandas frame or series
        value = value.to_numpy()
    array = np.asarray(value)
    if array.dtype == object:
        raise InvalidUpload(
            "the sample has an object dtype, which .npy cannot store without pickle; "
            "give a numeric array or a dict of arrays by input name"
        )
    return array
