"""The Python SDK: a typed client of the registry's REST API v1.

>>> from clients import Registry
>>> reg = Registry("http://127.0.0.1:8000")                # doctest: +SKIP
>>> v = reg.push("model.onnx", "lin", wait=True)            # doctest: +SKIP
>>> reg.pull("lin:1", dest="models/")                       # doctest: +SKIP
PosixPath('models/lin-1.onnx')
"""

from __future__ import annotations

import getpass
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, overload

import httpx

from clients._download import download_artifact
from clients._errors import WaitTimeout
from clients._multipart import FilePart, MultipartBody, Progress
from clients._serialize import prepared_sample, prepared_upload
from clients._types import AliasInfo, JobInfo, ModelInfo, PushResult, VersionInfo
from runtime import AliasEvent, ModelRef, check_alias, check_name, parse_weights
from runtime._remote import DEFAULT_URL, Fetcher, registry_token
from runtime.errors import InvalidUpload

__all__ = ["DEFAULT_URL", "Registry"]

API = "/api/v1"


def _targets_text(targets: str | Sequence[str] | None) -> str | None:
    if targets is None or isinstance(targets, str):
        return targets
    return ",".join(targets)


def _whoami() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in a bare container
        return None


class Registry:
    """A client of one modelport registry.

    ``url`` and ``token`` default to ``MODELPORT_URL`` / ``MODELPORT_TOKEN``
    (``http://127.0.0.1:8000``, no token). Pass ``client`` to use your own
    ``httpx.Client`` (its ``base_url`` is used when ``url`` is not given).

    Every method raises the project's exception classes (``ModelNotFound``,
    ``VersionNotFound``, ``InvalidUpload``, ``RegistryUnavailable``, ...), each
    with the server's problem document in ``.problem``.
    """

    page_size: int = 100  # items per request when listing; listings follow the cursors

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        client: httpx.Client | None = None,
        timeout: float = 60.0,
    ) -> None:
        base = str(client.base_url) if client is not None and str(client.base_url) else None
        self.url = (url or base or os.environ.get("MODELPORT_URL") or DEFAULT_URL).rstrip("/")
        self.token = registry_token(token)
        # the runtime's fetcher owns the connection, the token header, timeouts and the
        # decoding of error answers; this class adds the registry's methods on top
        self._fetcher = Fetcher(
            self.url, self.token or "", timeout, client=client, connect_timeout=None
        )

    # -- plumbing ---------------------------------------------------------------------

    def close(self) -> None:
        """Close the HTTP connection pool (not an injected client)."""
        self._fetcher.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Registry({self.url!r})"

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._fetcher.request(method, path, **kwargs).json()

    def _pages(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        cursor: str | None = None
        while True:
            query = {k: v for k, v in params.items() if v is not None}
            query["limit"] = self.page_size
            if cursor:
                query["cursor"] = cursor
            page = self._json("GET", path, params=query)
            yield from page.get("items", [])
            cursor = page.get("next_cursor")
            if not cursor:
                return

    # -- reading ----------------------------------------------------------------------

    def models(self, q: str | None = None) -> Iterator[ModelInfo]:
        """Every model (whose name or description matches ``q``), page after page."""
        for item in self._pages(f"{API}/models", {"q": q}):
            yield ModelInfo.from_json(item)

    def model(self, name: str) -> ModelInfo:
        """One model; raises ``ModelNotFound``."""
        check_name(name)
        return ModelInfo.from_json(self._json("GET", f"{API}/models/{name}"))

    def versions(self, name: str) -> list[VersionInfo]:
        """All versions of ``name``, in the server's order (newest first)."""
        check_name(name)
        return [VersionInfo.from_json(v) for v in self._pages(f"{API}/models/{name}/versions", {})]

    def show(self, ref: str | ModelRef) -> VersionInfo:
        """The version ``ref`` names: ``"name:3"``, ``"name@alias"``, ``"name"`` (latest)."""
        mref = ref if isinstance(ref, ModelRef) else ModelRef.parse(ref)
        data = self._json("GET", f"{API}/models/{mref.name}/versions/{mref.ref}")
        return VersionInfo.from_json(data)

    def job(self, job_id: str) -> JobInfo:
        """A conversion job's state."""
        return JobInfo.from_json(self._json("GET", f"{API}/jobs/{job_id}"))

    def wait(
        self,
        name: str,
        version: int,
        timeout: float = 600.0,
        *,
        on_update: Callable[[VersionInfo], None] | None = None,
    ) -> VersionInfo:
        """Poll until version ``version`` of ``name`` is ``ready`` or ``failed``.

        Returns the final :class:`VersionInfo` (check ``.status``); raises
        ``WaitTimeout`` after ``timeout`` seconds. ``on_update`` is called with
        every polled state, e.g. to show per-target progress.
        """
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            info = self.show(ModelRef(name, version=version))
            if on_update is not None:
                on_update(info)
            if info.done:
                return info
            if time.monotonic() + delay > deadline:
                raise WaitTimeout(
                    f"{name}:{version} is still {info.status!r} after {timeout:g} s; "
                    f"check it later with 'modelport show {name}:{version}'"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.25)

    # -- writing ----------------------------------------------------------------------

    @overload
    def push(
        self,
        obj_or_path: object,
        name: str,
        *,
        framework: str | None = ...,
        targets: str | Sequence[str] | None = ...,
        sample: object = ...,
        description: str | None = ...,
        tags: dict[str, str] | None = ...,
        example_inputs: Any = ...,
        created_by: str | None = ...,
        atol: float | None = ...,
        rtol: float | None = ...,
        options: dict[str, Any] | None = ...,
        wait: Literal[False] = ...,
        timeout: float = ...,
        progress: Progress | None = ...,
        on_update: Callable[[VersionInfo], None] | None = ...,
    ) -> PushResult: ...

    @overload
    def push(
        self,
        obj_or_path: object,
        name: str,
        *,
        framework: str | None = ...,
        targets: str | Sequence[str] | None = ...,
        sample: object = ...,
        description: str | None = ...,
        tags: dict[str, str] | None = ...,
        example_inputs: Any = ...,
        created_by: str | None = ...,
        atol: float | None = ...,
        rtol: float | None = ...,
        options: dict[str, Any] | None = ...,
        wait: Literal[True],
        timeout: float = ...,
        progress: Progress | None = ...,
        on_update: Callable[[VersionInfo], None] | None = ...,
    ) -> VersionInfo: ...

    def push(
        self,
        obj_or_path: object,
        name: str,
        *,
        framework: str | None = None,
        targets: str | Sequence[str] | None = None,
        sample: object = None,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        example_inputs: Any = None,
        created_by: str | None = None,
        atol: float | None = None,
        rtol: float | None = None,
        options: dict[str, Any] | None = None,
        wait: bool = False,
        timeout: float = 600.0,
        progress: Progress | None = None,
        on_update: Callable[[VersionInfo], None] | None = None,
    ) -> PushResult | VersionInfo:
        """Upload a model as a new version of ``name`` (created on its first upload).

        ``obj_or_path`` is a model file, a folder (zipped, e.g. a SavedModel) or an
        in-memory model: a fitted scikit-learn estimator, a torch ``nn.Module``
        (with ``example_inputs``), a Keras model or a ``tf.Module``. ``sample`` is
        validation input: an array, a dict of arrays by input name, a DataFrame or
        a ``.npy``/``.npz`` file. Returns a :class:`PushResult`, or with
        ``wait=True`` the final :class:`VersionInfo` once conversion has finished.
        ``progress(done, total)`` hears about every uploaded chunk. ``options`` are
        converter options the server passes to the source framework's loader, e.g.
        ``{"input_shapes": {"x": [None, 2, 3]}}`` for a TorchScript file (allowed keys:
        input_names, input_shapes, input_dtypes, output_names, dynamic_axes).
        """
        check_name(name)
        if tags is not None and not isinstance(tags, dict):
            raise InvalidUpload("tags must be a dict of strings, e.g. {'team': 'risk'}")
        if options is not None and not isinstance(options, dict):
            raise InvalidUpload("options must be a dict, e.g. {'input_shapes': {'x': [None, 4]}}")
        with (
            prepared_upload(obj_or_path, framework, example_inputs) as upload,
            prepared_sample(sample) as sample_path,
        ):
            fields = {
                "framework": upload.framework,
                "targets": _targets_text(targets),
                "description": description,
                "tags": json.dumps(tags) if tags is not None else None,
                "created_by": created_by or _whoami(),
                "atol": None if atol is None else repr(float(atol)),
                "rtol": None if rtol is None else repr(float(rtol)),
                "options": json.dumps(options) if options else None,
            }
            files = {
                "file": FilePart(upload.path, upload.filename),
                "sample": FilePart(sample_path, sample_path.name) if sample_path else None,
            }
            body = MultipartBody(fields, files, progress)
            data = self._json(
                "POST",
                f"{API}/models/{name}/versions",
                content=iter(body),
                headers=body.headers,
                default_422=InvalidUpload,
            )
        result = PushResult.from_json(data)
        if not wait:
            return result
        return self.wait(result.name, result.version, timeout, on_update=on_update)

    def set_alias(
        self,
        name: str,
        alias: str,
        version: int | None = None,
        *,
        weights: Mapping[int, int] | None = None,
        changed_by: str | None = None,
        note: str | None = None,
    ) -> AliasInfo:
        """Point ``name@alias`` at ``version``, or split it: ``weights={3: 90, 4: 10}``
        (percent, summing to 100). The change is kept in the alias's history."""
        check_name(name)
        check_alias(alias)
        body: dict[str, Any] = {"changed_by": changed_by, "note": note}
        if weights is not None:
            body["weights"] = {str(v): w for v, w in parse_weights(weights)}
        if version is not None:
            body["version"] = int(version)
        body = {k: v for k, v in body.items() if v is not None}
        data = self._json("PUT", f"{API}/models/{name}/aliases/{alias}", json=body)
        return AliasInfo.from_json(data)

    def alias(self, name: str, alias: str) -> AliasInfo:
        """What ``name@alias`` points at; raises ``AliasNotFound``."""
        check_name(name)
        check_alias(alias)
        return AliasInfo.from_json(self._json("GET", f"{API}/models/{name}/aliases/{alias}"))

    def alias_history(self, name: str, alias: str, limit: int = 50) -> list[AliasEvent]:
        """The audited changes of ``name@alias``, newest first."""
        check_name(name)
        check_alias(alias)
        data = self._json(
            "GET", f"{API}/models/{name}/aliases/{alias}/history", params={"limit": int(limit)}
        )
        return [AliasEvent.from_dict(item) for item in data["items"]]

    def delete_alias(
        self, name: str, alias: str, *, changed_by: str | None = None, note: str | None = None
    ) -> None:
        """Remove ``name@alias``; raises ``AliasNotFound`` when it does not exist."""
        check_name(name)
        check_alias(alias)
        params = {k: v for k, v in (("changed_by", changed_by), ("note", note)) if v}
        self._fetcher.request("DELETE", f"{API}/models/{name}/aliases/{alias}", params=params)

    def pull(
        self,
        ref: str | ModelRef,
        format: str | None = None,
        dest: str | os.PathLike[str] = ".",
        *,
        progress: Progress | None = None,
    ) -> Path:
        """Download an artifact of ``ref`` and return where it was written.

        ``format`` defaults to the best servable artifact (onnx, savedmodel, pmml),
        else the source upload. ``dest`` is a folder (existing, ending in ``/`` or
        without a suffix), which receives the file plus a ``modelport.json``
        manifest that ``runtime.load(folder)`` reads, or a file path. The bytes are
        hashed while streaming and checked against the registry's sha256 before an
        atomic rename; a mismatch raises ``IntegrityError`` and leaves nothing. A
        transfer cut short leaves a hidden ``.part`` file that the next pull of the
        same artifact resumes with an HTTP Range request.
        """
        info = self.show(ref)
        return download_artifact(self._fetcher, info, format, Path(dest), str(dest), progress)
