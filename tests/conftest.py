"""Shared fixtures: small seeded images and the optional ../shared data folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the repo; tests using it skip where it is absent."""
    if not (SHARED / "data").is_dir():
        pytest.skip("../shared is not beside the repo")
    return SHARED


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
