"""The vector tree on disk: writing it, its manifest, verifying it, packing it.

Layout (docs/formats/vectors.md)::

    DIR/manifest.json
    DIR/<profile>/<step-id>/<case-id>.json

Every file is canonical JSON plus a newline, so two generations compare with
``cmp -r``. ``manifest.json`` names the format and its version, the snapsync
version, the profiles, the step call conventions, the number of cases per profile
and report row, and the sha256 of every case file.

Reading is verifying: :func:`open_tree` refuses a manifest of another format or
version, a file whose sha256 differs from the manifest's, a listed file that is
missing and a case file the manifest does not list; :func:`read_cases` checks every
case's envelope against its path. Each refusal is one :class:`VectorError` naming
the file and the field.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import tarfile
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from impl.codec import canonical_json
from spec.conformance.cases import FORMAT, FORMAT_VERSION, VectorError, check_case
from spec.conformance.conventions import conventions_json, suite_of
from spec.conformance.jsonio import JSONError, json_type, strict_loads

__all__ = [
    "MANIFEST",
    "Tree",
    "open_tree",
    "pack",
    "read_cases",
    "snapsync_version",
    "write_tree",
]

MANIFEST = "manifest.json"
_MANIFEST_FIELDS = (
    "format",
    "format_version",
    "snapsync_version",
    "profiles",
    "cases",
    "bytes",
    "counts",
    "files",
    "conventions",
)


def snapsync_version() -> str:
    """Return the installed snapsync version (``0.0.0`` from a bare source tree)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("snapsync")
    except PackageNotFoundError:  # pragma: no cover
        return "0.0.0"


def _text(value: Any) -> bytes:
    return (canonical_json(value) + "\n").encode()


def case_path(case: dict[str, Any]) -> str:
    """Return a case's path inside the tree (``<profile>/<step>/<id>.json``)."""
    return f"{case['profile']}/{case['step']}/{case['id']}.json"


def write_tree(directory: Path, cases: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Write ``cases`` and the manifest under ``directory`` (emptied first); return the manifest."""
    directory = Path(directory)
    if directory.exists():
        for child in sorted(directory.iterdir()):
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
    directory.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    counts: dict[str, Counter[str]] = {}
    total = 0
    for case in sorted(cases, key=case_path):
        rel = case_path(case)
        if rel in files:
            raise VectorError(rel, "id", "two cases with one id")
        data = _text(case)
        target = directory / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        files[rel] = hashlib.sha256(data).hexdigest()
        counts.setdefault(case["profile"], Counter())[
            suite_of(case["step"], case["collection"])
        ] += 1
        total += len(data)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "snapsync_version": snapsync_version(),
        "profiles": sorted(counts),
        "cases": len(files),
        "bytes": total,
        "counts": {p: dict(sorted(c.items())) for p, c in sorted(counts.items())},
        "files": files,
        "conventions": conventions_json(),
    }
    (directory / MANIFEST).write_bytes(_text(manifest))
    return manifest


@dataclass(frozen=True, slots=True)
class Tree:
    """A verified vector tree: its directory and its manifest."""

    directory: Path
    manifest: dict[str, Any]

    @property
    def files(self) -> dict[str, str]:
        """Return path → sha256 of every case file."""
        files: dict[str, str] = self.manifest["files"]
        return files


def _check_manifest(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise VectorError(where, "", f"expected an object, got {json_type(data)}")
    for key in sorted(data):
        if key not in _MANIFEST_FIELDS:
            raise VectorError(where, key, "unexpected field of the manifest")
    for key in _MANIFEST_FIELDS:
        if key not in data:
            raise VectorError(where, key, "missing field of the manifest")
    if data["format"] != FORMAT:
        raise VectorError(where, "format", f"expected {FORMAT!r}, got {data['format']!r}")
    version = data["format_version"]
    if isinstance(version, bool) or version != FORMAT_VERSION:
        raise VectorError(
            where, "format_version", f"this reader reads version {FORMAT_VERSION}, got {version!r}"
        )
    files = data["files"]
    if not isinstance(files, dict):
        raise VectorError(where, "files", f"expected an object, got {json_type(files)}")
    for path, sha in files.items():
        if not isinstance(sha, str) or len(sha) != 64:
            raise VectorError(where, f"files.{path}", "expected a sha256 (64 hex digits)")
        parts = path.split("/")
        if len(parts) != 3 or not parts[2].endswith(".json") or ".." in parts:
            raise VectorError(where, f"files.{path}", "not a <profile>/<step>/<id>.json path")
    if not isinstance(data["cases"], int) or data["cases"] != len(files):
        raise VectorError(
            where, "cases", f"says {data['cases']!r}, but {len(files)} files are listed"
        )
    return data


def open_tree(directory: Path) -> Tree:
    """Read and check ``directory/manifest.json`` and the set of files it lists.

    The sha256 of each case is checked when the case is read (:func:`read_cases`).
    """
    directory = Path(directory)
    where = str(directory / MANIFEST)
    try:
        raw = (directory / MANIFEST).read_bytes()
    except FileNotFoundError:
        raise VectorError(str(directory), "", f"no {MANIFEST}: not a vector tree") from None
    except OSError as exc:
        raise VectorError(where, "", exc.strerror or str(exc)) from None
    try:
        manifest = _check_manifest(strict_loads(raw), where)
    except JSONError as exc:
        raise VectorError(where, "", f"not JSON: {exc}") from None
    listed = set(manifest["files"])
    for root, _dirs, names in os.walk(directory):
        for name in names:
            rel = os.path.relpath(os.path.join(root, name), directory).replace(os.sep, "/")
            if rel != MANIFEST and rel not in listed:
                raise VectorError(str(directory / rel), "", "not listed in the manifest")
    return Tree(directory, manifest)


def read_cases(
    tree: Tree,
    *,
    profiles: Iterable[str] | None = None,
    case_ids: Iterable[str] | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield the verified cases of ``tree`` (sha256, strict JSON, envelope), by path."""
    wanted_profiles = None if profiles is None else set(profiles)
    wanted_ids = None if case_ids is None else set(case_ids)
    for rel in sorted(tree.files):
        profile, step, name = rel.split("/")
        stem = name[: -len(".json")]
        if wanted_profiles is not None and profile not in wanted_profiles:
            continue
        if wanted_ids is not None and stem not in wanted_ids:
            continue
        path = tree.directory / rel
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise VectorError(str(path), "", "listed in the manifest but missing") from None
        if hashlib.sha256(raw).hexdigest() != tree.files[rel]:
            raise VectorError(str(path), "", "sha256 differs from the manifest's")
        try:
            data = strict_loads(raw)
        except JSONError as exc:
            raise VectorError(str(path), "", f"not JSON: {exc}") from None
        yield check_case(data, str(path), profile=profile, step=step, stem=stem)


# -- the archive -----------------------------------------------------------------------------


def pack(directory: Path, output: Path) -> str:
    """Write the verified tree as one deterministic ``.tar.gz``; return its sha256.

    Entries are sorted, under ``vectors/``, with zero times and owners, so packing
    the same tree twice gives the same bytes.
    """
    tree = open_tree(directory)
    for _ in read_cases(tree):
        pass  # verify every file before publishing it
    members = [MANIFEST, *sorted(tree.files)]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        dirs: set[str] = set()
        for rel in members:
            parts = rel.split("/")[:-1]
            for depth in range(1, len(parts) + 1):
                sub = "/".join(parts[:depth])
                if sub not in dirs:
                    dirs.add(sub)
                    tar.addfile(_info(f"vectors/{sub}", directory=True))
            data = (tree.directory / rel).read_bytes()
            tar.addfile(_info(f"vectors/{rel}", size=len(data)), io.BytesIO(data))
    raw = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
        gz.write(buffer.getvalue())
    Path(output).write_bytes(raw.getvalue())
    return hashlib.sha256(raw.getvalue()).hexdigest()


def _info(name: str, *, size: int = 0, directory: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if directory:
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
    else:
        info.size = size
        info.mode = 0o644
    return info


def unpack(archive: Path) -> Path:
    """Extract a packed archive into a new temporary directory; return the tree inside.

    Only regular files and directories under ``vectors/`` are accepted.
    """
    target = Path(tempfile.mkdtemp(prefix="snapsync-vectors-"))
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            for member in tar.getmembers():
                name = member.name
                if (
                    not name.startswith("vectors")
                    or ".." in name.split("/")
                    or name.startswith("/")
                ):
                    raise VectorError(str(archive), name, "not a member of a vector archive")
                if not (member.isfile() or member.isdir()):
                    raise VectorError(str(archive), name, "not a regular file")
            tar.extractall(target, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise VectorError(str(archive), "", f"not a vector archive: {exc}") from None
    return target / "vectors"
