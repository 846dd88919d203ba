"""Shared pytest setup: Hypothesis settings profiles (dev, ci, thorough), the reduced
vector tree the conformance tests read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=50,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile("dev", max_examples=100, deadline=None, print_blob=True)
settings.register_profile(
    "thorough",
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_collection_modifyitems(config: object, items: list[object]) -> None:
    """Leave ``@pytest.mark.slow`` tests out unless ``SNAPSYNC_SLOW=1`` (a faster test covers
    the same property in the default run; the slow one is the long measurement)."""
    if os.environ.get("SNAPSYNC_SLOW") == "1":
        return
    import pytest

    skip = pytest.mark.skip(reason="slow: run with SNAPSYNC_SLOW=1")
    for item in items:
        if "slow" in getattr(item, "keywords", {}):
            item.add_marker(skip)  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def quick_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reduced vector tree (``vectors generate --quick``), generated once per session;
    tests only read it (one that changes a tree copies it first)."""
    from spec.conformance.generate import generate

    directory = tmp_path_factory.mktemp("vectors") / "tree"
    generate(directory, quick=True)
    return directory
