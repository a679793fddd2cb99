"""Tiny randomly initialised transformers checkpoints, built here (nothing downloaded):
config.json + model.safetensors + tokenizer files, packed as .zip / .tar.gz."""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path

import numpy as np

from tests.frameworks._cases import FrameworkCase

IMPORTS = ("transformers", "torch", "onnxruntime_extensions")
WORDS = [
    "the",
    "a",
    "cat",
    "dog",
    "sat",
    "on",
    "mat",
    "sentence",
    "is",
    "good",
    "bad",
    "very",
    "small",
    "model",
    "runs",
    "here",
    "with",
    "words",
    "of",
    "its",
    "own",
    "and",
    "no",
    "download",
    "at",
    "all",
]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def checkpoint(folder: Path, num_labels: int = 3) -> Path:
    """A 2-layer BERT classifier (hidden 32) and its WordPiece tokenizer, saved to a folder."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    root = folder / "tiny-bert"
    root.mkdir(parents=True, exist_ok=True)
    vocab = root / "vocab.txt"
    vocab.write_text("\n".join(SPECIAL + WORDS) + "\n")
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(SPECIAL) + len(WORDS),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=64,
        num_labels=num_labels,
        initializer_range=0.5,  # visible differences between rows, not near-zero logits
    )
    BertForSequenceClassification(config).eval().save_pretrained(root)
    BertTokenizer(vocab=str(vocab)).save_pretrained(root)
    return root


def zipped(folder: Path) -> Path:
    root = checkpoint(folder)
    path = folder / "tiny-bert.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for file in sorted(root.iterdir()):
            zf.write(file, f"{root.name}/{file.name}")
    return path


def tarred(folder: Path) -> Path:
    root = checkpoint(folder)
    path = folder / "tiny-bert.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        for file in sorted(root.iterdir()):
            tf.add(file, arcname=file.name)  # files at the archive's root
    return path


def sample() -> dict[str, np.ndarray]:
    texts = ["the cat sat on the mat", "a very small model", "bad", "good words of its own"]
    return {"text": np.array(texts * 3, dtype=object)}


CASES = [
    FrameworkCase(
        "transformers-bert-zip", "transformers", zipped, sample=sample, expect={"onnx": "passed"}
    ),
    FrameworkCase(
        "transformers-bert-targz", "transformers", tarred, expect={"onnx": "passed"}, slow=True
    ),
]
