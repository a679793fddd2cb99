"""``runtime.load``: resolve a reference, fetch into the verified cache, open the model."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import logging
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runtime._aliases import AliasTarget
from runtime._cache import Cache, unpack_tar
from runtime._graphs import GraphMiss, options_allow_graphs
from runtime._loaders import (
    FORMAT_PREFERENCE,
    detect_format,
    file_sha256,
    is_tar,
    load_file,
    open_model,
)
from runtime._model import Model
from runtime._refs import ModelRef
from runtime._remote import Fetcher, registry_url
from runtime._signature import Signature

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    # loaded on the first decode: a local file's load never needs them
    from runtime._wire import ArtifactDoc, PullManifest, VersionDoc

from runtime._documents import PULL_MANIFEST, SERVABLE_STATUSES
from runtime.errors import (
    ArtifactNotFound,
    Conflict,
    DocumentError,
    IntegrityError,
    MissingDependency,
    NotCached,
    RegistryUnavailable,
)

__all__ = ["BACKEND_MODULES", "load", "usable_artifacts"]

log = logging.getLogger("runtime")

#: format -> (the library its loader needs, the pip extra that brings it)
BACKEND_MODULES: dict[str, tuple[str, str]] = {
    "onnx": ("onnxruntime", "modelport"),
    "pmml": ("pypmml", "modelport[pmml]"),
    "savedmodel": ("tensorflow", "modelport[tensorflow]"),
}
_SERVED = SERVABLE_STATUSES
_MANIFEST = PULL_MANIFEST  # written by `modelport pull` next to the artifact
_MODEL_KWARGS = ("device", "fallback", "batch_size")


def _looks_like_path(ref: str | Path) -> bool:
    """Paths: Path objects, text with a separator or a leading '.' or '~', an artifact file
    name that exists (``model.onnx``), or a folder holding a ``modelport pull`` manifest.
    A bare model name stays a model name even if a folder of that name exists."""
    if isinstance(ref, Path):
        return True
    if "/" in ref or "\\" in ref or ref.startswith((".", "~")):
        return True
    if ":" in ref or "@" in ref:
        return False  # a reference (name:3, name@alias); file names with those need ./
    candidate = Path(ref)
    if candidate.is_file():
        return candidate.suffix.lower() in (".onnx", ".ort", ".pmml", ".xml", ".tar")
    return candidate.is_dir() and (candidate / _MANIFEST).is_file()


def usable_artifacts(doc: VersionDoc, allow_unvalidated: bool = False) -> list[ArtifactDoc]:
    """The version's artifacts that ``load`` may serve, best format first."""
    ok = (*_SERVED, "failed") if allow_unvalidated else _SERVED
    usable = [a for a in doc.artifacts if a.format != "source" and a.status in ok]
    rank = {f: i for i, f in enumerate(FORMAT_PREFERENCE)}
    return sorted(usable, key=lambda a: rank.get(a.format, len(rank)))


def _backend_present(fmt: str) -> bool:
    module = BACKEND_MODULES.get(fmt, (None,))[0]
    if module is None:
        return True
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a blocked or broken package
        return False


def _formats_text(doc: VersionDoc) -> str:
    arts = [a for a in doc.artifacts if a.format != "source"]
    return ", ".join(f"{a.format} ({a.status})" for a in arts) or "none"


def _choose(doc: VersionDoc, fmt: str | None, allow_unvalidated: bool) -> ArtifactDoc:
    label = doc.ref
    usable = usable_artifacts(doc, allow_unvalidated)
    if fmt is not None:
        for art in usable:
            if art.format == fmt:
                return art
        raise ArtifactNotFound(
            f"{label} has no usable {fmt!r} artifact; its artifacts: {_formats_text(doc)}. "
            "Pick one of the passed/weak formats, or allow_unvalidated=True for 'failed' ones"
        )
    if not usable:
        if doc.status in ("pending", "converting"):
            raise Conflict(
                f"{label} is still {doc.status}; wait until it is ready, then load again"
            )
        raise ArtifactNotFound(
            f"{label} has no artifact that passed validation; its artifacts: "
            f"{_formats_text(doc)}" + (f"; error: {doc.error}" if doc.error else "")
        )
    for art in usable:
        if _backend_present(art.format):
            return art
    art = usable[0]
    extra = BACKEND_MODULES.get(art.format, ("", "modelport"))[1]
    raise MissingDependency(
        f"{label} is available as {_formats_text(doc)}, but no installed backend loads any "
        f"of them; install one, e.g. pip install '{extra}'"
    )


class _Resolver:
    """Finds the version document of a reference, online or from the cache."""

    def __init__(
        self, cache: Cache, url: str, token: str | None, timeout: float, sticky: str | None = None
    ) -> None:
        self.cache = cache
        self.url = url
        self.token = token
        self.timeout = timeout
        self.sticky = sticky
        self.target: AliasTarget | None = None  # set when an alias was resolved
        self._fetcher: Fetcher | None = None

    @property
    def fetcher(self) -> Fetcher:
        if self._fetcher is None:
            self._fetcher = Fetcher(self.url, self.token, self.timeout)
        return self._fetcher

    def close(self) -> None:
        if self._fetcher is not None:
            self._fetcher.close()

    def resolve(self, ref: ModelRef, *, ask: bool = False) -> tuple[VersionDoc, bool]:
        """(version document, online?). ``ask`` skips the cached document of a pinned ref.

        An alias is read first (its weights) and one version picked from it with the
        ``sticky`` key (else this process's key); that version is then resolved as pinned.
        """
        if ref.alias is not None:
            ref = self._pick(ref)
        if ref.version is not None and not ask:
            cached = self.cache.load_version(self.url, ref.name, ref.version)
            if cached is not None and cached.status == "ready":
                return cached, False  # versions are immutable: no need to ask
        try:
            from runtime._wire import VersionDoc

            doc = VersionDoc.from_json(self.fetcher.version(ref))  # decoded once, here
        except RegistryUnavailable as exc:
            return self._offline(ref, exc), False
        if doc.status == "ready":
            self.cache.save_version(self.url, doc)
        if not ref.is_pinned:
            self.cache.save_target(self.url, ref.name, ref.ref, doc.version)
        return doc, True

    def _pick(self, ref: ModelRef) -> ModelRef:
        assert ref.alias is not None
        if self.target is None or self.target.alias != ref.alias:
            self.target = self._alias_target(ref.name, ref.alias)
        return ModelRef(ref.name, version=self.target.pick(self.sticky))

    def _alias_target(self, name: str, alias: str) -> AliasTarget:
        try:
            target = AliasTarget.from_dict(self.fetcher.alias(name, alias))
        except RegistryUnavailable as exc:
            saved = self.cache.load_target_doc(self.url, name, alias)
            if saved is None:
                raise RegistryUnavailable(
                    f"registry {self.url} is unreachable and nothing is cached for "
                    f"{name}@{alias}; connect to the registry once (or set MODELPORT_URL) "
                    "so the model gets cached"
                ) from exc
            doc = {"name": name, "alias": alias, "version": saved["version"]}
            target = AliasTarget.from_dict({**doc, "weights": saved.get("weights")})
            stamp = dt.datetime.fromtimestamp(saved["resolved_at"], dt.UTC)
            split = f" (split {dict(target.weights)})" if target.is_split else ""
            warnings.warn(
                f"registry {self.url} is unreachable; {name}@{alias} resolves to the last "
                f"known target {name}:{target.pick(self.sticky)}{split} (seen "
                f"{stamp.isoformat(timespec='seconds')}), which may be out of date",
                RuntimeWarning,
                stacklevel=5,
            )
            return target
        weights = {str(v): w for v, w in target.weights}
        self.cache.save_target(self.url, name, alias, target.version, weights)
        return target

    def _offline(self, ref: ModelRef, exc: RegistryUnavailable) -> VersionDoc:
        version = ref.version
        if version is None:
            target = self.cache.load_target(self.url, ref.name, ref.ref)
            if target is not None:
                version, when = target
                stamp = dt.datetime.fromtimestamp(when, dt.UTC).isoformat(timespec="seconds")
                warnings.warn(
                    f"registry {self.url} is unreachable; {ref} resolves to the last known "
                    f"target {ref.name}:{version} (seen {stamp}), which may be out of date",
                    RuntimeWarning,
                    stacklevel=4,
                )
        doc = None if version is None else self.cache.load_version(self.url, ref.name, version)
        if doc is None:
            raise RegistryUnavailable(
                f"registry {self.url} is unreachable and nothing is cached for {ref}; "
                "connect to the registry once (or set MODELPORT_URL) so the model gets cached"
            ) from exc
        return doc


def _fetch(
    cache: Cache, resolver: _Resolver, doc: VersionDoc, art: ArtifactDoc, verify: str
) -> tuple[Path, str]:
    """The verified blob of ``art``, downloading it when needed. Returns (path, origin)."""
    sha = str(art.sha256)
    path = cache.verified(sha, verify)
    if path is not None:
        return path, "cache"
    with cache.lock(sha):
        path = cache.verified(sha, verify)  # another process may have fetched it meanwhile
        if path is not None:
            return path, "cache"
        label = doc.ref
        try:
            fetcher = resolver.fetcher
            with fetcher.artifact(doc.name, doc.version, art.format) as body:
                path = cache.store(sha, body, art.size or None)
        except RegistryUnavailable as exc:
            raise NotCached(
                f"registry {resolver.url} is unreachable and the {art.format} artifact of "
                f"{label} is not in the cache ({cache.root}); reconnect to fetch it"
            ) from exc
        except IntegrityError as exc:
            raise IntegrityError(f"{label} ({art.format}): {exc}") from exc
        log.info("runtime: downloaded %s %s (%s bytes)", label, art.format, art.size)
        return path, "download"


def _packed(art: ArtifactDoc) -> bool:
    return bool(art.files) or art.format == "savedmodel" or "tar" in (art.media_type or "")


def _load_local(ref: Path, fmt: str | None, kwargs: dict[str, Any]) -> Model:
    path = ref.expanduser()
    if path.is_dir():
        manifest = _read_manifest(path / _MANIFEST)
        if manifest is not None:
            return _load_pulled(path, manifest, fmt, kwargs)
    return load_file(path, format=fmt, **kwargs)


def _read_manifest(path: Path) -> PullManifest | None:
    """The folder's pull manifest; None when there is none (a folder artifact such as a
    SavedModel may hold some other ``modelport.json``). One that names a file but does
    not decode is an error that says which field is wrong."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not data.get("filename"):
        return None
    try:
        from runtime._wire import PullManifest

        return PullManifest.from_json(data)
    except DocumentError as exc:
        raise DocumentError(f"{path}: {exc}; pull the version again") from None


def _load_pulled(
    folder: Path, manifest: PullManifest, fmt: str | None, kwargs: dict[str, Any]
) -> Model:
    """A folder written by ``modelport pull``: the artifact plus ``modelport.json``."""
    name = Path(manifest.filename).name  # never a path from the manifest, only a name
    path = folder / name
    label = manifest.ref
    if not path.is_file():
        raise ArtifactNotFound(f"{folder} lacks {name}, the artifact its {_MANIFEST} names")
    art_fmt = manifest.format
    if fmt is not None and fmt != art_fmt:
        raise ArtifactNotFound(f"{folder} holds the {art_fmt!r} artifact of {label}, not {fmt!r}")
    if art_fmt == "source":
        raise ArtifactNotFound(
            f"{folder} holds the source upload of {label}, not a converted artifact; "
            "pull with --format onnx|pmml|savedmodel"
        )
    sha = file_sha256(path)
    if manifest.sha256 and sha != manifest.sha256:
        raise IntegrityError(
            f"{path} hashes to sha256 {sha}, but {_MANIFEST} says {manifest.sha256}; "
            "the file was modified or truncated, pull it again"
        )
    target = path
    if art_fmt == "savedmodel" or manifest.files or is_tar(path):
        target = unpack_tar(path, sha)
    meta = {
        "name": manifest.name,
        "version": manifest.version,
        "sha256": sha,
        "framework": manifest.framework,
        "origin": "file",
    }
    return open_model(
        target,
        art_fmt or detect_format(target),
        signature=manifest.signature,
        device=kwargs["device"],
        fallback=kwargs["fallback"],
        batch_size=kwargs["batch_size"],
        options={k: v for k, v in kwargs.items() if k not in _MODEL_KWARGS},
        meta=meta,
    )


def load(
    ref: str | Path,
    *,
    format: str | None = None,  # noqa: A002 - the public keyword is 'format'
    device: str = "cpu",
    registry: str | None = None,
    token: str | None = None,
    cache_dir: str | Path | None = None,
    cache_max: int | str | None = None,
    fallback: bool = False,
    batch_size: int | None = None,
    allow_unvalidated: bool = False,
    timeout: float = 30.0,
    verify: str = "full",
    sticky: str | None = None,
    **session_options: Any,
) -> Model:
    """Load a model by reference (``name:3``, ``name``, ``name:latest``, ``name@alias``) or
    from a local path (an artifact file, a SavedModel folder, a ``modelport pull`` folder).

    The registry is ``registry``, else ``MODELPORT_URL``, else http://127.0.0.1:8000; the
    token ``token`` else ``MODELPORT_TOKEN``. Artifacts land in a content-addressed cache
    (``cache_dir``, else ``MODELPORT_CACHE``) bounded by ``cache_max`` /
    ``MODELPORT_CACHE_MAX`` and are re-verified on every load: ``verify="full"`` re-hashes
    the bytes the session is built from, ``verify="stat"`` only when their stat stamp
    (size, inode, mtime, ctime) changed since the last full hash. ONNX models on the CPU
    keep their onnxruntime-optimised graph in the cache (``graph_cache=False`` or
    ``MODELPORT_GRAPH_CACHE=0`` turns that off); a warm load opens that graph, checked
    against its own sha256, and skips graph optimisation. Offline, pinned versions
    load from the cache and aliases resolve to their last known target (with a warning).

    An alias may split between versions (``production -> {3: 90, 4: 10}``): the load
    picks one by the weights, reproducibly for a ``sticky`` key (e.g. a user or tenant
    id), else with one random key per process (every load in a process picks alike).
    ``model.info.version`` says which version was picked, ``model.info.weights`` the split.

    Raises :class:`ModelNotFound`, :class:`VersionNotFound`, :class:`AliasNotFound`,
    :class:`ArtifactNotFound`, :class:`MissingDependency`, :class:`IntegrityError`,
    :class:`RegistryUnavailable`, :class:`NotCached`, :class:`DeviceUnavailable`.

    >>> m = runtime.load("fraud-clf@production")    # doctest: +SKIP
    >>> m.predict(X)                                # doctest: +SKIP
    """
    kwargs = dict(device=device, fallback=fallback, batch_size=batch_size, **session_options)
    if _looks_like_path(ref):
        return _load_local(Path(ref), format, kwargs)
    parsed = ModelRef.parse(str(ref))
    cache = Cache(cache_dir, cache_max)
    resolver = _Resolver(cache, registry_url(registry), token, timeout, sticky)
    try:
        doc, online = resolver.resolve(parsed)
        try:
            art = _choose(doc, format, allow_unvalidated)
        except ArtifactNotFound:
            if online:
                raise
            # the cached document may predate a conversion added since: ask once
            doc, online = resolver.resolve(parsed, ask=True)
            art = _choose(doc, format, allow_unvalidated)
        if art.status == "weak":
            warnings.warn(
                f"{doc.ref} {art.format} artifact is 'weak': it matched "
                "the source model, but on reference outputs with (near) zero variance",
                RuntimeWarning,
                stacklevel=2,
            )
        sha = str(art.sha256)
        meta: dict[str, Any] = {
            "name": doc.name,
            "version": doc.version,
            "sha256": sha,
            "framework": doc.framework,
            "origin": "cache",
            "registry": resolver.url,
        }
        if resolver.target is not None:
            meta["alias"] = resolver.target.alias
            meta["weights"] = dict(resolver.target.weights)
        sig = art.signature or doc.signature

        def build(path: Path, graph_only: bool = False) -> Model:
            return _open(
                path,
                art,
                doc,
                sig,
                meta,
                (device, fallback, batch_size),
                session_options,
                cache.root,
                (graph_only, verify),
            )

        model = None
        if art.format == "onnx" and not _packed(art) and options_allow_graphs(session_options):
            model = _open_cached_graph(cache, sha, build)
        if model is None and verify == "full" and not _packed(art):
            model = _open_while_verifying(cache, sha, build)
        if model is None:
            path, meta["origin"] = _fetch(cache, resolver, doc, art, verify)
            if _packed(art):
                path = unpack_tar(path, sha, cache.root)
            model = build(path)
    finally:
        resolver.close()
    cache.evict(keep={sha})
    return model


# A cached blob at least this large is hashed in a second thread while its session is
# being built (hashing and session creation both release the GIL), so the full check on
# every load costs little extra: a 16.8 MB model on 2 idle cores took 67.6 ms hashed then
# opened, 43.8 ms overlapped (raw session 43.2 ms). Below a few MB the thread hand-off
# (waking the worker can take longer than the hash) made median loads slower, and with a
# single usable core the thread only adds that hand-off, so neither case uses it.
_OVERLAP_MIN_BYTES = 4 * 1024 * 1024
_VERIFIER: ThreadPoolExecutor | None = None


def _verifier() -> ThreadPoolExecutor:
    global _VERIFIER
    if _VERIFIER is None:
        from concurrent.futures import ThreadPoolExecutor

        _VERIFIER = ThreadPoolExecutor(max_workers=2, thread_name_prefix="modelport-verify")
    return _VERIFIER


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _open_while_verifying(
    cache: Cache, sha: str, build: Callable[[Path, bool], Model]
) -> Model | None:
    """Open a cached blob while its sha256 is re-checked; None when it is not cached, too
    small to bother, or does not hash right (it is then removed, and the caller fetches
    it again). A model built from bytes that fail the check is never returned."""
    path = cache.blob_path(sha)
    if _usable_cores() < 2:
        return None
    try:
        if path.stat().st_size < _OVERLAP_MIN_BYTES:
            return None
    except OSError:
        return None
    check = _verifier().submit(cache.verified, sha, "full")
    try:
        model = build(path, False)
    except BaseException:
        if check.result() is None:
            return None  # the bytes were bad: fetch them again and retry
        raise
    return model if check.result() is not None else None


def _open_cached_graph(
    cache: Cache, sha: str, build: Callable[[Path, bool], Model]
) -> Model | None:
    """The model from its cached optimised graph, or None when there is none to use.

    The session reads only the graph, so the graph is what gets hashed in full (against
    its own sha256, recorded when it was derived from the verified artifact). The
    artifact must still be cached and unchanged: its stat stamp is checked, and any
    write to it since its last full hash (which changes its ctime) triggers that hash,
    which refuses a tampered file (removed, with a warning; the caller fetches it
    again). A missing or refused graph sends the caller down the path that verifies
    the artifact in full and rebuilds the graph.
    """
    path = cache.verified(sha, "stat")
    if path is None:
        return None  # not cached, or corrupt and now removed: fetch the artifact
    try:
        return build(path, True)  # verified() above has marked the blob as used
    except GraphMiss:
        return None


def _open(
    path: Path,
    art: ArtifactDoc,
    doc: VersionDoc,
    sig: Signature | None,
    meta: dict[str, Any],
    placement: tuple[str, bool, int | None],
    session_options: dict[str, Any],
    cache_root: Path,
    graph: tuple[bool, str],
) -> Model:
    device, fallback, batch_size = placement
    graph_only, verify = graph
    try:
        return open_model(
            path,
            art.format,
            signature=sig,
            device=device,
            fallback=fallback,
            batch_size=batch_size,
            options=session_options,
            meta=meta,
            cache_root=cache_root,
            graph_only=graph_only,
            verify=verify,
        )
    except MissingDependency as exc:
        raise MissingDependency(f"{exc}; {doc.ref} has: {_formats_text(doc)}") from exc
