"""analogist: semantic correspondence and visual attribute transfer between images.

The package is layered: :mod:`analogist.features` (backbones and feature pyramids),
:mod:`analogist.matching` (dense and sparse correspondences), :mod:`analogist.synthesis` (warping,
feature inversion, colour), :mod:`analogist.methods` (one module per paper), :mod:`analogist.apps`
(applications built from methods), :mod:`analogist.eval` (benchmarks) and the front end
:mod:`analogist.cli`. Images are float32 tensors ``(1, 3, H, W)`` in [0, 1].

The main entry points are importable from here (see ``__all__``); each loads its module on first
use, so ``import analogist`` itself imports nothing heavy (the command line relies on that to
answer Ctrl-C during the imports that follow).

>>> import analogist
>>> a = analogist.load_image(analogist.example_path("cat.jpg"), 48)
>>> b = analogist.load_image(analogist.example_path("cat_painting.jpg"), 48)
>>> tuple(a.shape), a.dtype
((1, 3, 32, 48), torch.float32)
>>> pairs = analogist.neural_best_buddies(a, b, analogist.BuddiesParams(size=None, k=5))
>>> pairs.points.shape[1], len(pairs.top_k)      # (xa, ya, xb, yb) per pair; the 5 best spread out
(4, 5)
>>> result = analogist.deep_image_analogy(a, b, analogist.AnalogyParams(size=None, lbfgs_iters=2))
>>> tuple(result.a_prime.shape), tuple(result.flow_ab.shape)
((1, 3, 32, 48), (2, 32, 48))
>>> styled = analogist.stylize(a, b, analogist.preset("fast", steps=2, split_steps=0))
>>> styled.shape == a.shape and 0 <= float(styled.min()) and float(styled.max()) <= 1
True
>>> net = analogist.get_backbone("efficientnet-lite0")
>>> {name: tuple(f.shape) for name, f in net.extract(a, ["stage2", "stage5"]).items()}
{'stage2': (1, 24, 8, 12), 'stage5': (1, 112, 2, 3)}
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name -> the module (relative to this package) that defines it
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(("deep_image_analogy", "AnalogyParams", "AnalogyResult"), ".methods.analogy"),
    **dict.fromkeys(("neural_best_buddies", "BuddiesParams", "BuddiesResult", "draw_buddies"), ".methods.buddies"),
    **dict.fromkeys(("stylize", "StylizeParams", "preset", "PRESETS"), ".methods.nnst"),
    **dict.fromkeys(("sam_net", "SAMNetParams", "SAMNetResult"), ".methods.samnet"),
    **dict.fromkeys(("coat", "COATParams", "COATResult"), ".methods.coat"),
    **dict.fromkeys(("stylize_video", "VideoParams"), ".apps.video"),
    "align": ".apps.align",
    **dict.fromkeys(("hybrid", "HybridParams"), ".apps.hybrid"),
    "morph": ".apps.morph",
    "timelapse": ".apps.timelapse",
    **dict.fromkeys(("load_image", "save_image", "resize_longer"), ".io"),
    "example_path": ".data",
    **dict.fromkeys(("get_backbone", "BACKBONES"), ".features"),
    "OutputPlan": ".outputs",
    **dict.fromkeys(("AnalogistError", "InputError", "OutputError", "WeightsNotFoundError"), ".errors"),
}

# spelled out so that tools reading the file see the names (the test checks it against _EXPORTS)
__all__ = [
    "deep_image_analogy",
    "AnalogyParams",
    "AnalogyResult",
    "neural_best_buddies",
    "BuddiesParams",
    "BuddiesResult",
    "draw_buddies",
    "stylize",
    "StylizeParams",
    "preset",
    "PRESETS",
    "sam_net",
    "SAMNetParams",
    "SAMNetResult",
    "coat",
    "COATParams",
    "COATResult",
    "stylize_video",
    "VideoParams",
    "align",
    "hybrid",
    "HybridParams",
    "morph",
    "timelapse",
    "load_image",
    "save_image",
    "resize_longer",
    "example_path",
    "get_backbone",
    "BACKBONES",
    "OutputPlan",
    "AnalogistError",
    "InputError",
    "OutputError",
    "WeightsNotFoundError",
]


def __getattr__(name: str) -> Any:  # PEP 562: import on first use
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'analogist' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
