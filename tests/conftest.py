"""Shared fixtures: small seeded images and the optional ../shared data folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

SHARED = Path(__file__).resolve().parents[1].parent / "shared"

#: The devices present: the CPU everywhere, CUDA where a GPU is usable. Tests that take the
#: ``device`` fixture run once per device, so the same suite checks CUDA on a machine that has one.
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the repo; tests using it skip where it is absent."""
    if not (SHARED / "data").is_dir():
        pytest.skip("../shared is not beside the repo")
    return SHARED


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> torch.device:
    """Each device present in turn (see :data:`DEVICES`)."""
    return torch.device(request.param)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
