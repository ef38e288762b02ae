"""``analogist info``: versions, threads and where each backbone's weights are."""

from __future__ import annotations

import argparse
import platform

import torch

from .. import __version__
from ..features import BACKBONES, backbone_status
from ..features.weights import search_places


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="versions, threads and weight availability per backbone")
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
    print("backbones:")
    for name, spec in BACKBONES.items():
        ok, where = backbone_status(name)
        state = "available" + (" offline" if spec.offline else "") if ok else "missing"
        print(f"  {name:<20} {state:<18} {where}")
        for i, (place, status) in enumerate(search_places(name)):
            print(f"  {'':<20} {'looked in:' if i == 0 else '':<18} {place} ({status})")
    return 0
