"""The one registry of dense matchers that ``analogist eval`` (and anything else) can score.

A matcher maps two images to a dense flow::

    matcher(image_a (1, 3, Ha, Wa), image_b (1, 3, Hb, Wb), *, backbone: str, **options) -> flow_ab (2, Ha, Wa)

in pixels of the given images: pixel ``p`` of A corresponds to pixel ``p + flow_ab[p]`` of B. A new
method registers itself here with :func:`register` (imports of heavy method modules stay inside the
function, so listing the registry costs nothing).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Callable

import torch

from ..errors import InputError
from ..matching.flow import nnf_to_flow
from ..matching.nearest import nearest_neighbours
from .metrics import flow_to_size

Matcher = Callable[..., torch.Tensor]


@dataclass(frozen=True)
class MatcherSpec:
    """A registered matcher: its function, a one-line description and the options it accepts."""

    name: str
    fn: Matcher
    description: str
    default_backbone: str
    options: tuple[str, ...] = ()


MATCHERS: dict[str, MatcherSpec] = {}


def register(name: str, description: str, *, default_backbone: str = "vgg16-hed",
             options: tuple[str, ...] = ()) -> Callable[[Matcher], Matcher]:
    """Decorator adding a matcher function to :data:`MATCHERS` under ``name``."""

    def deco(fn: Matcher) -> Matcher:
        MATCHERS[name] = MatcherSpec(name, fn, description, default_backbone, options)
        return fn

    return deco


def get_matcher(name: str) -> MatcherSpec:
    if name not in MATCHERS:
        raise InputError(f"unknown method {name!r}: choose one of {', '.join(MATCHERS)}")
    return MATCHERS[name]


# ------------------------------------------------------------------------------------------------- nn

#: Layer the ``nn`` baseline matches on when none is given. Measured on the six TSS sample pairs
#: (benchmarks/eval_tss.py): the deepest layers win for semantic matching, the stride-32 stage6
#: of EfficientNet-Lite0 (at 448 px) and relu4_3 of VGG16 (at 224 px).
NN_LAYERS: dict[str, str] = {
    "vgg16-hed": "relu4_3",
    "vgg16": "relu4_3",
    "vgg19": "relu4_4",
    "efficientnet-lite0": "stage6",
}


@register("nn", "plain cosine nearest neighbour on one feature map, bilinearly upsampled",
          options=("layer", "chunk", "weights"))
def nn_matcher(image_a: torch.Tensor, image_b: torch.Tensor, *, backbone: str = "vgg16-hed",
               layer: str | None = None, chunk: int = 4096, weights: str | None = None) -> torch.Tensor:
    """Exact cosine nearest neighbour of every A feature among B's, on one layer.

    The feature-grid field is converted to pixel flow with cell centres aligned and upsampled
    bilinearly to A's size. Returns ``(2, Ha, Wa)``.
    """
    from ..features import get_backbone

    net = get_backbone(backbone, weights)
    layer = layer or NN_LAYERS.get(backbone, net.default_layers[-1])
    if layer not in net.names:
        raise InputError(f"backbone {net.name} has no layer {layer!r}; layers: {', '.join(net.names)}")
    fa = net.extract(image_a, [layer])[layer][0]
    fb = net.extract(image_b, [layer])[layer][0]
    c, ha, wa = fa.shape
    _, hb, wb = fb.shape
    idx, _ = nearest_neighbours(fa.reshape(c, -1), fb.reshape(c, -1), chunk)
    nnf = torch.stack([idx % wb, idx // wb]).reshape(2, ha, wa).float()
    Hb, Wb = image_b.shape[-2:]
    return flow_to_size(nnf_to_flow(nnf), tuple(image_a.shape[-2:]), target_scale=(Wb / wb, Hb / hb))


# ----------------------------------------------------------------------------------- paper methods

def _params(cls: type, backbone: str, options: dict[str, Any]) -> Any:
    """Build a method's parameter dataclass, refusing option names it does not have."""
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(options) - names)
    if unknown:
        raise InputError(f"{cls.__name__} has no parameter {', '.join(unknown)}")
    kw = dict(options)
    if "backbone" in names:
        kw["backbone"] = backbone
    return cls(**kw)


@register("dia", "Deep Image Analogy's dense NNF (coarse-to-fine PatchMatch over the backbone pyramid)")
def dia_matcher(image_a: torch.Tensor, image_b: torch.Tensor, *, backbone: str = "vgg16-hed", **options: Any) -> torch.Tensor:
    """``flow_ab`` of :func:`analogist.methods.analogy.deep_image_analogy`, ``(2, Ha, Wa)``."""
    from ..methods.analogy import AnalogyParams, deep_image_analogy

    result = deep_image_analogy(image_a, image_b, _params(AnalogyParams, backbone, options))
    return result.flow_ab.detach().float()


@register("buddies", "Neural Best-Buddies sparse pairs, densified by moving least squares")
def buddies_matcher(image_a: torch.Tensor, image_b: torch.Tensor, *, backbone: str = "vgg16-hed", **options: Any) -> torch.Tensor:
    """Sparse best buddies of :func:`analogist.methods.buddies.neural_best_buddies` made dense with
    :func:`analogist.matching.mls.dense_flow`; ``(2, Ha, Wa)``."""
    from ..matching.mls import dense_flow
    from ..methods import buddies

    params = _params(buddies.BuddiesParams, backbone, options)
    result = buddies.neural_best_buddies(image_a, image_b, params)
    pts = torch.as_tensor(result.points, dtype=torch.float32)
    h, w = image_a.shape[-2:]
    if len(pts) < 3:
        return torch.zeros(2, h, w)  # too few pairs for any deformation: the identity is the honest guess
    return torch.as_tensor(dense_flow(pts[:, :2], pts[:, 2:], (h, w), "affine")).float()


__all__ = ["Matcher", "MatcherSpec", "MATCHERS", "register", "get_matcher", "NN_LAYERS", "nn_matcher"]
