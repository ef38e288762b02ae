"""``analogist info``: versions, threads and where each backbone's weights are."""

from __future__ import annotations

import argparse
import platform

import torch

from .. import __version__
from ..features import BACKBONES, backbone_status


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="versions, threads and weight availability per backbone")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy, cv2, skimage, PIL  # noqa: E401  (only their versions are wanted)

    print(f"analogist {__version__}  python {platform.python_version()}  torch {torch.__version__}")
    print(f"numpy {numpy.__version__}  opencv {cv2.__version__}  scikit-image {skimage.__version__}  "
          f"pillow {PIL.__version__}")
    print(f"threads: torch {torch.get_num_threads()} (intra-op), {torch.get_num_interop_threads()} (inter-op)")
    print("backbones:")
    for name, spec in BACKBONES.items():
        ok, where = backbone_status(name)
        state = "available" + (" offline" if spec.offline else "") if ok else "missing"
        print(f"  {name:<20} {state:<18} {where}")
    return 0
