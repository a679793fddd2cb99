"""Hugging Face ``transformers`` uploads: a checkpoint folder packed as .zip/.tar.gz.

The folder holds ``config.json``, the weights as ``*.safetensors`` (never a pickle:
``pytorch_model.bin`` is not read) and the tokenizer's files. It is extracted member by
member (``converters._archive``) and loaded offline with ``trust_remote_code=False``,
so a config naming custom code is refused. ``*ForSequenceClassification`` checkpoints
give ``logits``; any other architecture loads as the base model and gives
``last_hidden_state``.

Two input modes, decided at load:

* ``text`` (``onnxruntime-extensions`` installed and able to express the tokenizer):
  one ``text`` input of strings. The ONNX artifact carries the tokenizer as graph
  operators, so the pre-processing travels with the model; the reference tokenises
  with the checkpoint's own tokenizer (padding to the longest row, truncation at
  ``max_length``).
* ``tokens``: ``input_ids``, ``attention_mask`` (and ``token_type_ids`` where the
  model takes them), int64 ``[batch, sequence]``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

import numpy as np

from converters._archive import extract_archive, list_members
from converters._registry import import_optional
from runtime import Signature, TensorSpec
from runtime.errors import InvalidUpload

__all__ = ["TransformersFramework", "TransformersSource"]

_MAX_LENGTH = 512
_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "spiece.model")


def _members_below_top(names: list[str]) -> set[str]:
    """Member names relative to the archive root or to its single top folder."""
    clean = [n[2:] if n.startswith("./") else n for n in names if not n.startswith("__MACOSX/")]
    clean = [n.rstrip("/") for n in clean if n and n != "."]
    tops = {PurePosixPath(n).parts[0] for n in clean}
    if len(tops) == 1:
        top = next(iter(tops))
        below = {n[len(top) + 1 :] for n in clean if n.startswith(top + "/")}
        if below:
            return below
    return set(clean)


def _checkpoint_root(folder: Path) -> Path:
    if (folder / "config.json").is_file():
        return folder
    entries = [p for p in folder.iterdir() if not p.name.startswith("__MACOSX")]
    if len(entries) == 1 and (entries[0] / "config.json").is_file():
        return entries[0]
    raise InvalidUpload("no config.json at the archive's root or inside its one top folder")


def _transformers() -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach a hub from the worker
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    return import_optional("transformers", extra="transformers")


class TransformersSource:
    """A checkpoint loaded with ``transformers`` (torch), run as the reference."""

    framework = "transformers"

    def __init__(self, root: Path, model: Any, tokenizer: Any, head: str, text: bool) -> None:
        self.root = root
        self.native = model
        self.tokenizer = tokenizer
        self.head = head  # "logits" | "last_hidden_state"
        self.text_mode = text
        config = model.config
        limits = [
            int(getattr(tokenizer, "model_max_length", _MAX_LENGTH) or _MAX_LENGTH),
            int(getattr(config, "max_position_embeddings", _MAX_LENGTH) or _MAX_LENGTH),
            _MAX_LENGTH,
        ]
        self.max_length = min(limits)
        names = tokenizer.model_input_names
        self.token_inputs = [
            n for n in ("input_ids", "attention_mask", "token_type_ids") if n in names
        ]
        self.signature = Signature(inputs=self._input_specs(), outputs=self._output_specs())
        self.lineage = {
            "estimator": type(model).__name__,
            "model_type": getattr(config, "model_type", None),
            "tokenizer": type(tokenizer).__name__,
            "inputs": "text" if text else "tokens",
            "max_length": self.max_length,
            "versions": _versions(),
        }

    def _input_specs(self) -> tuple[TensorSpec, ...]:
        if self.text_mode:
            return (TensorSpec("text", "str", ("batch",)),)
        return tuple(TensorSpec(n, "int64", ("batch", "sequence")) for n in self.token_inputs)

    def _output_specs(self) -> tuple[TensorSpec, ...]:
        config = self.native.config
        if self.head == "logits":
            return (TensorSpec("logits", "float32", ("batch", int(config.num_labels))),)
        hidden = int(getattr(config, "hidden_size", 0) or 0) or None
        return (TensorSpec("last_hidden_state", "float32", ("batch", "sequence", hidden)),)

    def tokenize(self, texts: list[str]) -> dict[str, np.ndarray]:
        """The token tensors the checkpoint's tokenizer makes for ``texts``."""
        enc = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="np"
        )
        return {n: np.asarray(enc[n], dtype=np.int64) for n in self.token_inputs}

    def predict(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = import_optional("torch", extra="transformers")
        if self.text_mode:
            tokens = self.tokenize([str(t) for t in np.asarray(inputs["text"]).reshape(-1)])
        else:
            tokens = {n: np.asarray(inputs[n], dtype=np.int64) for n in self.token_inputs}
        feeds = {n: torch.from_numpy(np.ascontiguousarray(v)) for n, v in tokens.items()}
        with torch.no_grad():
            out = self.native(**feeds)
        return {self.head: getattr(out, self.head).detach().cpu().numpy()}

    def generate_inputs(self, rows: int, seed: int = 0) -> dict[str, np.ndarray]:
        """Sentences of the tokenizer's own words (one longer than ``max_length``), or ids."""
        rng = np.random.default_rng(seed)
        rows = max(rows, 32)
        words = _plain_words(self.tokenizer)
        if self.text_mode:
            lengths = rng.integers(1, 12, size=rows)
            lengths[2] = self.max_length + 5  # truncation
            texts = [" ".join(rng.choice(words, size=int(n))) for n in lengths]
            return {"text": np.array(texts, dtype=object)}
        return self.tokenize([" ".join(rng.choice(words, size=8)) for _ in range(rows)])


def _plain_words(tokenizer: Any) -> list[str]:
    special = set(tokenizer.all_special_tokens)
    vocab = [w for w in tokenizer.get_vocab() if w not in special and w.isalpha()]
    return sorted(vocab)[:2000] or ["a"]


def _versions() -> dict[str, str]:
    from converters._onnx import library_versions

    return library_versions("transformers", "torch", "tokenizers", "onnxruntime-extensions")


def _head_of(config: Any) -> str:
    archs = [str(a) for a in (getattr(config, "architectures", None) or [])]
    if any(a.endswith("ForSequenceClassification") for a in archs):
        return "logits"
    return "last_hidden_state"


def text_mode_available(tokenizer: Any) -> bool:
    """True when onnxruntime-extensions can turn ``tokenizer`` into graph operators."""
    try:
        from converters._transformers_onnx import tokenizer_graph

        tokenizer_graph(tokenizer, 8)
    except Exception:  # noqa: BLE001 - not installed, or a tokenizer it cannot express
        return False
    return True


class TransformersFramework:
    """A transformers checkpoint folder (config + safetensors + tokenizer) as zip/tar."""

    name: ClassVar[str] = "transformers"
    extensions: ClassVar[tuple[str, ...]] = (".zip", ".tar.gz", ".tgz")
    accepts: ClassVar[str] = (
        "Hugging Face transformers checkpoint folder (config.json, "
        "model.safetensors and tokenizer files) packed as .zip, .tar.gz or .tgz"
    )

    def sniff(self, path: Path, filename: str, policy: Any = None) -> bool:
        names = _members_below_top(list_members(path))
        return (
            "config.json" in names
            and any(n.endswith(".safetensors") and "/" not in n for n in names)
            and any(n in names for n in _TOKENIZER_FILES)
        )

    def load(
        self, path: Path, filename: str, options: Any = None, policy: Any = None
    ) -> TransformersSource:
        folder = Path(tempfile.mkdtemp(prefix="checkpoint-", dir=path.parent))
        root = _checkpoint_root(extract_archive(path, folder / "checkpoint"))
        if not any(root.glob("*.safetensors")):
            raise InvalidUpload(
                f"{filename!r} has no *.safetensors weights; save the checkpoint with "
                "model.save_pretrained(folder) (safetensors is the default) and pack the folder"
            )
        tf = _transformers()
        kwargs = {"local_files_only": True, "trust_remote_code": False}
        try:
            config = tf.AutoConfig.from_pretrained(root, **kwargs)
            head = _head_of(config)
            auto = tf.AutoModelForSequenceClassification if head == "logits" else tf.AutoModel
            model = auto.from_pretrained(root, config=config, use_safetensors=True, **kwargs)
            tokenizer = tf.AutoTokenizer.from_pretrained(root, **kwargs)
        except Exception as exc:  # noqa: BLE001 - transformers raises many types
            raise InvalidUpload(
                f"{filename!r} could not be loaded as a transformers checkpoint: {exc}"
            ) from exc
        model.eval()
        return TransformersSource(root, model, tokenizer, head, text_mode_available(tokenizer))
