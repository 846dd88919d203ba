"""A copy of the project with one mutant applied.

The copy holds what ``snapsync check`` and the test suite read (:data:`COPIED`); a
process started in it with ``PYTHONPATH`` set to it imports the copy's ``impl`` and
``spec``, never the installed ones (:func:`mutant_env`).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from impl.errors import InvalidInput
from spec.mutants.catalogue import Mutant

__all__ = ["COPIED", "MutantError", "apply_mutant", "copy_project", "mutant_env", "project_root"]

COPIED: tuple[str, ...] = ("impl", "spec", "model_tests", "docs", "pyproject.toml", "README.md")
"""What a copy holds (relative to the project's root)."""


class MutantError(InvalidInput):
    """A mutant that cannot be applied: its text is absent, or not unique, or the result
    does not compile."""


def project_root() -> Path:
    """The root of the project this module runs from (it holds ``impl/`` and ``spec/``)."""
    return Path(__file__).resolve().parents[2]


def copy_project(root: Path, dest: Path) -> Path:
    """Copy :data:`COPIED` from ``root`` into ``dest`` (caches left out); return ``dest``."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis", ".pytest_cache")
    dest.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        src = root / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        elif src.exists():
            shutil.copy2(src, dest / name)
    return dest


def mutated_text(mutant: Mutant, text: str) -> str:
    """Return ``text`` with ``mutant`` applied, or raise :class:`MutantError`."""
    found = text.count(mutant.before)
    if found != 1:
        raise MutantError(
            f"mutant {mutant.id}: its text occurs {found} times in {mutant.path} (needs 1)"
        )
    if mutant.after == mutant.before:
        raise MutantError(f"mutant {mutant.id}: changes nothing")
    out = text.replace(mutant.before, mutant.after)
    try:
        compile(out, mutant.path, "exec")
    except SyntaxError as exc:
        raise MutantError(f"mutant {mutant.id}: does not compile: {exc}") from None
    return out


def apply_mutant(mutant: Mutant, copy: Path) -> None:
    """Apply ``mutant`` to the project copy at ``copy`` (in place)."""
    path = copy / mutant.path
    if not path.is_file():
        raise MutantError(f"mutant {mutant.id}: no file {mutant.path}")
    path.write_text(mutated_text(mutant, path.read_text(encoding="utf-8")), encoding="utf-8")


def mutant_env(copy: Path, tmp: Path) -> dict[str, str]:
    """The environment of a process run in ``copy``: its modules first, its own temporary
    directory (traces of one mutant never mix with another's)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(copy)
    # Tests start ``snapsync`` itself: this interpreter's scripts come first on PATH.
    scripts = str(Path(sys.executable).parent)
    env["PATH"] = scripts + os.pathsep + env.get("PATH", "")
    env["TMPDIR"] = str(tmp)
    env["SNAPSYNC_HUNT_TRACES"] = str(tmp / "traces")
    env.pop("SNAPSYNC_SLOW", None)
    return env
