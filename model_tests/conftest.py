"""Shared pytest setup: Hypothesis settings profiles (dev, ci, thorough)."""

from __future__ import annotations

import os

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


def pytest_collection_modifyitems(config: object, items: list[pytest.Item]) -> None:
    """Skip tests marked ``slow`` unless ``SNAPSYNC_SLOW=1`` (a faster test covers each)."""
    if os.environ.get("SNAPSYNC_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: set SNAPSYNC_SLOW=1 to run")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
