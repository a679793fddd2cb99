"""The streamed multipart body is valid form data and reports progress."""

from __future__ import annotations

from email.parser import BytesParser
from email.policy import HTTP

from clients._multipart import CHUNK_SIZE, FilePart, MultipartBody


def _parse(body: MultipartBody) -> dict[str, tuple[str | None, bytes]]:
    raw = b"".join(body)
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {body.content_type}\r\n\r\n".encode() + raw
    )
    parts = {}
    for part in message.iter_parts():
        parts[part.get_param("name", header="content-disposition")] = (
            part.get_filename(),
            part.get_payload(decode=True),
        )
    return parts


def test_fields_and_files_round_trip(tmp_path):
    data = bytes(range(256)) * 10
    (tmp_path / "m.onnx").write_bytes(data)
    body = MultipartBody(
        {"framework": "onnx", "description": 'quotes " and ünïcode', "targets": None},
        {"file": FilePart(tmp_path / "m.onnx", "m.onnx"), "sample": None},
    )
    parts = _parse(body)
    assert set(parts) == {"framework", "description", "file"}
    assert parts["framework"] == (None, b"onnx")
    assert parts["description"][1].decode() == 'quotes " and ünïcode'
    assert parts["file"] == ("m.onnx", data)


def test_content_length_matches_the_bytes_sent(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"x" * 12345)
    body = MultipartBody({"k": "v"}, {"file": FilePart(tmp_path / "a.bin", "a.bin")})
    assert int(body.headers["Content-Length"]) == len(b"".join(body))


def test_file_is_streamed_in_chunks_with_progress(tmp_path):
    size = CHUNK_SIZE * 2 + 7
    (tmp_path / "big.bin").write_bytes(b"\0" * size)
    seen: list[tuple[int, int | None]] = []
    body = MultipartBody(
        {}, {"file": FilePart(tmp_path / "big.bin", "big.bin")}, lambda d, t: seen.append((d, t))
    )
    chunks = list(body)
    assert max(len(c) for c in chunks) <= CHUNK_SIZE
    assert seen[0] == (0, size)
    assert seen[-1] == (size, size)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert len(seen) == 4  # start + three chunks
