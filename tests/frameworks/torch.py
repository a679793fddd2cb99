"""PyTorch cases: torch.export programs (.pt2) and a TorchScript module (.pt).

Untrained weights are fine here: no output is a softmax, so the reference outputs
vary and a "passed" verdict means something.
"""

from __future__ import annotations

from pathlib import Path

from tests.frameworks._cases import FrameworkCase


def _modules():
    import torch
    from torch import nn

    class Mlp(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.hidden = nn.Linear(4, 16)
            self.out = nn.Linear(16, 3)

        def forward(self, features: torch.Tensor) -> torch.Tensor:
            return self.out(torch.relu(self.hidden(features)))

    class SmallCnn(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)
            self.pool = nn.MaxPool2d(2)
            self.head = nn.Linear(4 * 4 * 4, 5)

        def forward(self, image: torch.Tensor) -> torch.Tensor:
            return self.head(self.pool(torch.relu(self.conv(image))).flatten(1))

    class SeqLstm(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(3, 8, batch_first=True)
            self.head = nn.Linear(8, 2)

        def forward(self, sequence: torch.Tensor) -> dict[str, torch.Tensor]:
            states, _ = self.lstm(sequence)
            return {"score": self.head(states[:, -1]), "states": states}

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            return self.layer(tokens)

    return {"mlp": Mlp, "cnn": SmallCnn, "lstm": SeqLstm, "encoder": Encoder}


def _example(name: str):
    import torch

    gen = torch.Generator().manual_seed(0)
    shapes = {"mlp": (3, 4), "cnn": (3, 1, 8, 8), "lstm": (3, 6, 3), "encoder": (3, 5, 8)}
    return torch.randn(shapes[name], generator=gen)


def build_module(name: str):
    """The tiny module, seeded, in eval mode."""
    import torch

    torch.manual_seed(0)
    return _modules()[name]().eval()


def _exporter(name: str, arg: str):
    def build(folder: Path) -> Path:
        import torch

        module = build_module(name)
        program = torch.export.export(
            module,
            (_example(name),),
            dynamic_shapes={arg: {0: torch.export.Dim("batch", max=4096)}},
        )
        path = folder / f"{name}.pt2"
        torch.export.save(program, str(path))
        return path

    return build


def _torchscript(name: str):
    def build(folder: Path) -> Path:
        import torch

        path = folder / f"{name}-script.pt"
        torch.jit.script(build_module(name)).save(str(path))
        return path

    return build


CASES = [
    FrameworkCase("torch-mlp", "torch", _exporter("mlp", "features"), expect={"onnx": "passed"}),
    FrameworkCase("torch-cnn", "torch", _exporter("cnn", "image"), expect={"onnx": "passed"}),
    FrameworkCase("torch-lstm", "torch", _exporter("lstm", "sequence"), expect={"onnx": "passed"}),
    FrameworkCase(
        "torch-encoder",
        "torch",
        _exporter("encoder", "tokens"),
        expect={"onnx": "passed"},
        slow=True,
    ),
    FrameworkCase("torch-script-mlp", "torch", _torchscript("mlp"), expect={"onnx": "passed"}),
    FrameworkCase(
        "torch-script-cnn", "torch", _torchscript("cnn"), expect={"onnx": "passed"}, slow=True
    ),
]
