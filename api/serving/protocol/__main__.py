"""Regenerate the Python modules of ``grpc_service.proto`` (needs ``grpcio-tools``).

Run from the repository root: ``python -m api.serving.protocol``. The modules are
committed, so serving needs only ``grpcio`` and ``protobuf``.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PROTO = "api/serving/protocol/grpc_service.proto"


def main() -> int:
    from grpc_tools import protoc

    args = ["protoc", f"-I{ROOT}", f"--python_out={ROOT}", f"--pyi_out={ROOT}"]
    args += [f"--grpc_python_out={ROOT}", str(ROOT / PROTO)]
    return int(protoc.main(args))


if __name__ == "__main__":
    sys.exit(main())
