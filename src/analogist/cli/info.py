"""``analogist info``: versions, threads, the measured kernel paths and where each backbone's weights are."""

from __future__ import annotations

import argparse
import platform

import torch

from .. import __version__
from ..features import BACKBONES, backbone_status
from ..features.kernel_bench import CANDIDATES
from ..features.precision import default_choice
from ..features.weights import search_places


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="versions, threads, kernel rates and paths, weight availability per backbone")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # imported here: only their versions are wanted
    import cv2
    import numpy
    import PIL
    import scipy

    print(f"analogist {__version__}  python {platform.python_version()}  torch {torch.__version__}")
    print(f"numpy {numpy.__version__}  scipy {scipy.__version__}  opencv {cv2.__version__}  pillow {PIL.__version__}")
    print(f"threads: torch {torch.get_num_threads()} (intra-op), {torch.get_num_interop_threads()} (inter-op)")
    _kernels()
    print("backbones:")
    for name, spec in BACKBONES.items():
        ok, where = backbone_status(name)
        state = "available" + (" offline" if spec.offline else "") if ok else "missing"
        print(f"  {name:<20} {state:<18} {where}")
        for i, (place, status) in enumerate(search_places(name)):
            print(f"  {'':<20} {'looked in:' if i == 0 else '':<18} {place} ({status})")
    return 0


def _kernels() -> None:
    """Each kind of operation's measured rates (GMAC/s per candidate) and the path ``auto`` takes."""
    choice = default_choice()
    print(f"kernels (GMAC/s measured on this machine; cache {choice.cache_path}):")
    for kind in CANDIDATES:
        rates = choice.rates(kind)
        shown = "  ".join(f"{name} {rates[name]:.1f}" for name in CANDIDATES[kind])
        path = choice.choose(kind)
        forced = "" if path.reason.startswith("precision=auto") else f" ({path.reason.split(';')[0]})"
        print(f"  {kind:<11} {shown}  -> {path.name}{forced}")
    if torch.cuda.is_available():
        for kind in CANDIDATES:
            path = choice.choose(kind, device="cuda")
            print(f"  {kind:<11} on cuda -> {path.name} ({path.reason})")
