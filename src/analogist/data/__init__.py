"""Bundled, license-clean example images (see ``examples/PROVENANCE.md``)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

EXAMPLES = ("cat.jpg", "cat_painting.jpg", "astronaut.jpg", "coffee.jpg", "rocket.jpg", "swirls.jpg")


def example_path(name: str) -> Path:
    """Path of a bundled example image, e.g. ``example_path("cat.jpg")``."""
    if name not in EXAMPLES:
        raise KeyError(f"no bundled example {name!r}; examples: {', '.join(EXAMPLES)}")
    return Path(str(resources.files(__name__) / "examples" / name))
