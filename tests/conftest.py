"""Shared fixtures: small seeded images and the optional ../shared data folder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

SHARED = Path(__file__).resolve().parents[1].parent / "shared"

#: The devices present: the CPU everywhere, CUDA where a GPU is usable. Tests that take the
#: ``device`` fixture run once per device, so the same suite checks CUDA on a machine that has one.
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(scope="session", autouse=True)
def _kernel_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The measured kernel rates (:mod:`analogist.features.precision`) go to a temporary cache folder,
    for this process and the CLI processes the tests start: the suite never writes the user's cache."""
    from analogist.features import precision

    old = os.environ.get("ANALOGIST_CACHE_DIR")
    os.environ["ANALOGIST_CACHE_DIR"] = str(tmp_path_factory.mktemp("analogist-cache"))
    precision.reset()
    yield
    precision.reset()
    if old is None:
        os.environ.pop("ANALOGIST_CACHE_DIR", None)
    else:
        os.environ["ANALOGIST_CACHE_DIR"] = old


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
