"""Fixtures that the hidden checks receive, registered as a pytest plugin.

The runner stores the submission under test and its seed in the pytest
config's stash before collection; these fixtures read them from there.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from minitorch_grading.sandbox import Submission

SUBMISSION_KEY = pytest.StashKey[Submission]()
SEED_KEY = pytest.StashKey[int]()


@pytest.fixture(scope="session")
def submission(request: pytest.FixtureRequest) -> Submission:
    """Handle on the worker that runs the student's code."""
    return request.config.stash[SUBMISSION_KEY]


@pytest.fixture(scope="session")
def seed(request: pytest.FixtureRequest) -> int:
    """The student's seed for this assignment."""
    return request.config.stash[SEED_KEY]


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """Random generator of one check, derived from the student's seed."""
    # One stream per check, so adding a check does not change the others.
    base = request.config.stash[SEED_KEY]
    digest = hashlib.sha256(f"{base}:{request.node.nodeid}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))
