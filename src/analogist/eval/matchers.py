"""The one registry of dense matchers that ``analogist eval`` (and anything else) can score.

A matcher maps two images to a dense flow::

    matcher(image_a (1, 3, Ha, Wa), image_b (1, 3, Hb, Wb), *, backbone: str, **options) -> flow_ab (2, Ha, Wa)

in pixels of the given images: pixel ``p`` of A corresponds to pixel ``p + flow_ab[p]`` of B. A new
method registers itself here with :func:`register` (imports of heavy method modules stay inside the
function, so listing the registry costs nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any

import torch

from ..errors import InputError
from ..matching.flow import nnf_to_flow
from ..matching.nearest import nearest_neighbours
from .metrics import flow_to_size

Matcher = Callable[..., torch.Tensor]
#: ``both(image_a, image_b, *, backbone, **options) -> (flow_ab (2, Ha, Wa), flow_ba (2, Hb, Wb))``
PairMatcher = Callable[..., tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class MatcherSpec:
    """A registered matcher: its function, a one-line description and the CLI options it accepts
    (``layer``, ``weights``; anything else reaches it only from Python)."""

    name: str
    fn: Matcher
    description: str
    options: tuple[str, ...] = ()
    #: optional: both directions from one run, for methods that compute them together (TSS scores both)
    both: PairMatcher | None = None


MATCHERS: dict[str, MatcherSpec] = {}


def register(name: str, description: str, *, options: tuple[str, ...] = ()) -> Callable[[Matcher], Matcher]:
    """Decorator adding a matcher function to :data:`MATCHERS` under ``name``."""

    def deco(fn: Matcher) -> Matcher:
        MATCHERS[name] = MatcherSpec(name, fn, description, options)
        return fn

    return deco


def register_both(name: str) -> Callable[[PairMatcher], PairMatcher]:
    """Decorator attaching a two-direction function to the already registered matcher ``name``."""

    def deco(fn: PairMatcher) -> PairMatcher:
        MATCHERS[name] = replace(MATCHERS[name], both=fn)
        return fn

    return deco


def get_matcher(name: str) -> MatcherSpec:
    if name not in MATCHERS:
        raise InputError(f"unknown method {name!r}: choose one of {', '.join(MATCHERS)}")
    return MATCHERS[name]


# ------------------------------------------------------------------------------------------------- nn

#: Layer the ``nn`` baseline matches on when none is given: the best of a sweep on the six TSS
#: sample pairs (``benchmarks/eval_tss.py --sweep``, mean accuracy). vgg16-hed at 224 px: relu3_3
#: 0.17, relu4_1 0.37, relu4_3 0.44, relu5_1 0.32, relu5_3 0.17; efficientnet-lite0 at 448 px:
#: stage4 0.35, stage5 0.51, stage6 0.68, stage7 0.60, head 0.48. (vgg16/vgg19: by analogy, unmeasured.)
NN_LAYERS: dict[str, str] = {
    "vgg16-hed": "relu4_3",
    "vgg16": "relu4_3",
    "vgg19": "relu4_4",
    "efficientnet-lite0": "stage6",
}


@register("nn", "plain cosine nearest neighbour on one feature map, bilinearly upsampled", options=("layer", "weights"))
def nn_matcher(
    image_a: torch.Tensor,
    image_b: torch.Tensor,
    *,
    backbone: str = "vgg16-hed",
    layer: str | None = None,
    chunk: int = 4096,
    weights: str | None = None,
) -> torch.Tensor:
    """Exact cosine nearest neighbour of every A feature among B's, on one layer.

    The feature-grid field is converted to pixel flow with cell centres aligned and upsampled
    bilinearly to A's size. Returns ``(2, Ha, Wa)``.
    """
    fa, fb = _nn_features(image_a, image_b, backbone, layer, weights)
    return _nn_flow(fa, fb, image_a, image_b, chunk)


@register_both("nn")
def nn_both(
    image_a: torch.Tensor,
    image_b: torch.Tensor,
    *,
    backbone: str = "vgg16-hed",
    layer: str | None = None,
    chunk: int = 4096,
    weights: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Both directions of :func:`nn_matcher` from one feature extraction per image."""
    fa, fb = _nn_features(image_a, image_b, backbone, layer, weights)
    return _nn_flow(fa, fb, image_a, image_b, chunk), _nn_flow(fb, fa, image_b, image_a, chunk)


def _nn_features(
    image_a: torch.Tensor, image_b: torch.Tensor, backbone: str, layer: str | None, weights: str | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(C, ha, wa)`` and ``(C, hb, wb)`` features of the chosen layer."""
    from ..features import get_backbone

    net = get_backbone(backbone, weights)
    layer = net.check_layer(layer or NN_LAYERS.get(backbone, net.default_layers[-1]))
    return net.extract(image_a, [layer])[layer][0], net.extract(image_b, [layer])[layer][0]


def _nn_flow(
    fa: torch.Tensor, fb: torch.Tensor, image_a: torch.Tensor, image_b: torch.Tensor, chunk: int
) -> torch.Tensor:
    """Feature-grid nearest neighbours A -> B as a pixel flow ``(2, Ha, Wa)``."""
    c, ha, wa = fa.shape
    _, hb, wb = fb.shape
    idx, _ = nearest_neighbours(fa.reshape(c, -1), fb.reshape(c, -1), chunk)
    nnf = torch.stack([idx % wb, idx // wb]).reshape(2, ha, wa).float()
    Hb, Wb = image_b.shape[-2:]
    return flow_to_size(nnf_to_flow(nnf), tuple(image_a.shape[-2:]), target_scale=(Wb / wb, Hb / hb))


# ----------------------------------------------------------------------------------- paper methods


def _params(cls: type, backbone: str, options: dict[str, Any]) -> Any:
    """Build a method's parameter dataclass, refusing option names it does not have.

    ``size`` is set to ``None`` (work on the images as given) unless asked for: the runner has
    already resized them to ``--size``, and resizing twice would make ``--size`` a lie.
    """
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(options) - names)
    if unknown:
        raise InputError(f"{cls.__name__} has no parameter {', '.join(unknown)}")
    kw = dict(options)
    if "backbone" in names:
        kw["backbone"] = backbone
    if "size" in names:
        kw.setdefault("size", None)
    return cls(**kw)


@register(
    "dia",
    "Deep Image Analogy's dense NNF (coarse-to-fine PatchMatch over the VGG pyramid; "
    "--backbone efficientnet-lite0 guides its coarsest match with Lite0)",
    options=("weights",),
)
def dia_matcher(
    image_a: torch.Tensor, image_b: torch.Tensor, *, backbone: str = "vgg16-hed", **options: Any
) -> torch.Tensor:
    """``flow_ab`` (A -> B') of :func:`analogist.methods.analogy.deep_image_analogy`, ``(2, Ha, Wa)``.

    ``options`` are fields of :class:`~analogist.methods.analogy.AnalogyParams` (the paper's defaults
    otherwise).
    """
    return dia_both(image_a, image_b, backbone=backbone, **options)[0]


@register_both("dia")
def dia_both(
    image_a: torch.Tensor, image_b: torch.Tensor, *, backbone: str = "vgg16-hed", **options: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(flow_ab, flow_ba)``: the method is symmetric in A and B', so one run gives both directions.

    ``--backbone`` picks the variant so that each table row is one thing: a VGG backbone runs the
    paper's method on it alone (``match_backbone=None`` unless given); a backbone without the VGG
    layers (efficientnet-lite0) becomes ``match_backbone``, the semantic guide of the coarsest
    level, with the default VGG reconstructing the features (the method's own default setting).
    """
    from ..features import get_backbone
    from ..methods.analogy import AnalogyParams, deep_image_analogy

    params = _params(AnalogyParams, backbone, options)
    if any(layer not in get_backbone(backbone, params.weights).names for layer in params.layers):
        # not a VGG (e.g. efficientnet-lite0): the method reconstructs features through VGG, so the
        # backbone takes the one role it can have, the semantic guide of the coarsest match
        params = replace(params, backbone=AnalogyParams.backbone, weights=None, match_backbone=backbone)
    elif "match_backbone" not in options:
        # a VGG backbone alone is the paper's method; the semantic guide is what the lite0 row measures
        params = replace(params, match_backbone=None)
    result = deep_image_analogy(image_a, image_b, params)
    return result.flow_ab.detach().float(), result.flow_ba.detach().float()


#: MLS flavour and evaluation step used to densify the best buddies (affine: the paper's default;
#: every 4th pixel then bilinear, which the MLS module documents as visually exact).
BUDDIES_MLS_KIND = "affine"
BUDDIES_MLS_STEP = 4


@register("buddies", "Neural Best-Buddies sparse pairs, densified by moving least squares", options=("weights",))
def buddies_matcher(
    image_a: torch.Tensor, image_b: torch.Tensor, *, backbone: str = "vgg16-hed", **options: Any
) -> torch.Tensor:
    """All best-buddy pairs of :func:`analogist.methods.buddies.neural_best_buddies`, made dense with
    :func:`analogist.matching.mls.dense_flow`; ``(2, Ha, Wa)``. ``options`` are fields of
    :class:`~analogist.methods.buddies.BuddiesParams`."""
    from ..matching.mls import dense_flow
    from ..methods.buddies import BuddiesParams, neural_best_buddies

    result = neural_best_buddies(image_a, image_b, _params(BuddiesParams, backbone, options))
    pts = torch.as_tensor(result.points, dtype=torch.float64).reshape(-1, 4)
    h, w = image_a.shape[-2:]
    # no pairs gives the identity, one a translation (dense_flow handles both)
    flow = dense_flow(pts[:, :2], pts[:, 2:], (h, w), BUDDIES_MLS_KIND, step=BUDDIES_MLS_STEP)
    return torch.as_tensor(flow).float()


@register(
    "samnet",
    "SAM-Net's recurrent matching and attribute transfer through a dense field of local "
    "affine transforms (--iters sets the recurrent iterations)",
    options=("weights", "iters", "layer"),
)
def samnet_matcher(
    image_a: torch.Tensor, image_b: torch.Tensor, *, backbone: str = "efficientnet-lite0", **options: Any
) -> torch.Tensor:
    """``flow`` (A -> B) of :func:`analogist.methods.samnet.sam_net`, ``(2, Ha, Wa)``. ``options`` are
    fields of :class:`~analogist.methods.samnet.SAMNetParams` (its defaults otherwise); a backbone other
    than the default keeps its own default layer unless one is given."""
    from ..methods.samnet import SAMNetParams, default_layer, sam_net

    options.setdefault("layer", default_layer(backbone))
    return sam_net(image_a, image_b, _params(SAMNetParams, backbone, options)).flow.float()


__all__ = [
    "Matcher",
    "PairMatcher",
    "MatcherSpec",
    "MATCHERS",
    "register",
    "register_both",
    "get_matcher",
    "NN_LAYERS",
    "nn_matcher",
]
