"""Score a registered matcher over a benchmark: per-pair results, per-subset/class tables, time, memory.

Every pair is evaluated by :func:`evaluate_pair`, a pure function of the pair and an
:class:`EvalConfig` with a seed derived from the pair's name, so a process pool (``workers > 1``)
gives exactly the serial results in the same order.
"""

from __future__ import annotations

import resource
import time
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from ..errors import AnalogistError
from ..io import load_image, resize_longer
from ..matching.flow import flow_to_nnf, nnf_to_flow
from ..progress import Progress, silent
from .datasets import KeypointPair
from .matchers import get_matcher
from .metrics import (
    PCK_NORM_TEXT,
    bbox_threshold,
    flow_accuracy,
    flow_to_size,
    image_threshold,
    keypoint_bbox,
    pck,
    transfer_keypoints,
)
from .tss import TSS_SUBSETS, TSSPair, load_tss_pair

#: Published TSS flow accuracies over the full 400 pairs (FG3DCar / JODS / PASCAL / mean of the three).
PUBLISHED: dict[str, dict[str, dict[str, float]]] = {
    "tss": {
        "Deep Image Analogy": {"FG3DCar": 0.762, "JODS": 0.685, "PASCAL": 0.513, "mean": 0.653},
        "SAM-Net": {"FG3DCar": 0.961, "JODS": 0.822, "PASCAL": 0.672, "mean": 0.818},
    },
}

PCK_NORMS = ("bbox", "image")


@dataclass(frozen=True)
class EvalConfig:
    """What to run and how to score it.

    Attributes:
        method: a key of :data:`analogist.eval.matchers.MATCHERS`.
        backbone: feature extractor passed to the matcher.
        size: longer side the images are resized to before matching (None: the files' size).
        options: extra keyword options of the matcher, as sorted ``(name, value)`` pairs.
        alphas: PCK thresholds (keypoint datasets).
        pck_norm: ``"bbox"`` (the default: ``alpha *`` the longer side of the target box, SPair-71k's
            convention; SPair's annotated box, or the tight box of the target keypoints) or ``"image"``
            (``alpha * max(H, W)`` of the target image, PF-PASCAL's; lenient wherever the object is
            smaller than the image, e.g. a face's landmarks span about half of a faces-dev image).
        use_flip: TSS only: match flipped pairs against the mirrored image2 (as the kit's flag
            intends) and mirror the flow back before scoring.
        device: where the matcher computes (``"cpu"``, ``"cuda"``, ``"cuda:N"``); scoring is on the CPU.
    """

    method: str
    backbone: str
    size: int | None = None
    options: tuple[tuple[str, Any], ...] = ()
    alphas: tuple[float, ...] = (0.05, 0.1, 0.15)
    pck_norm: str = "bbox"
    use_flip: bool = True
    device: str = "cpu"


@dataclass
class PairResult:
    """Scores of one pair; ``skipped`` holds the reason when it could not be evaluated."""

    name: str
    group: str  # TSS subset or keypoint class
    scores: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0  # matcher time for the pair (both directions for TSS)
    peak_rss_mib: float = 0.0  # peak resident memory of the process that ran it so far
    skipped: str | None = None


@dataclass
class Report:
    """Everything ``analogist eval`` prints or writes as JSON."""

    dataset: str
    config: EvalConfig
    metrics: list[str]
    pairs: list[PairResult]
    groups: dict[str, dict[str, float]]  # group -> metric -> mean; plus "mean"
    counts: dict[str, int]
    seconds_per_pair: float  # median over evaluated pairs
    peak_rss_mib: float
    wall_seconds: float
    workers: int

    @property
    def skipped(self) -> list[PairResult]:
        return [p for p in self.pairs if p.skipped]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["config"]["options"] = dict(self.config.options)
        d["published"] = PUBLISHED.get(self.dataset, {})
        if self.dataset != "tss":
            d["pck_normalisation"] = PCK_NORM_TEXT[self.config.pck_norm]
        return _json_safe(d)


def _json_safe(x: Any) -> Any:
    """NaN (a pair or group without any scorable point) becomes null: JSON has no NaN."""
    if isinstance(x, float) and x != x:
        return None
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    return x


def pair_seed(name: str) -> int:
    """A seed that depends only on the pair's name (same in every process and run)."""
    return zlib.crc32(name.encode("utf-8"))


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _check_flow(config: EvalConfig, flow: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    flow = torch.as_tensor(flow).detach().float().cpu()
    if tuple(flow.shape) != (2, *image.shape[-2:]):
        raise AnalogistError(
            f"matcher {config.method} returned a flow of shape {tuple(flow.shape)}, "
            f"expected (2, {image.shape[-2]}, {image.shape[-1]})"
        )
    return flow


def _match(config: EvalConfig, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    # no torch.no_grad() here: Deep Image Analogy deconvolves features by gradient descent
    spec = get_matcher(config.method)
    dev = config.device
    return _check_flow(config, spec.fn(a.to(dev), b.to(dev), backbone=config.backbone, **dict(config.options)), a)


def _match_both(config: EvalConfig, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both directions: one run for methods that give them together, two otherwise."""
    spec = get_matcher(config.method)
    if spec.both is None:
        return _match(config, a, b), _match(config, b, a)
    f_ab, f_ba = spec.both(a.to(config.device), b.to(config.device), backbone=config.backbone, **dict(config.options))
    return _check_flow(config, f_ab, a), _check_flow(config, f_ba, b)


def _mirror_target(flow: torch.Tensor, width: int) -> torch.Tensor:
    """A flow into a mirrored target ``(2, H, W)`` -> the same flow into the unmirrored target."""
    nnf = flow_to_nnf(flow)
    nnf = torch.stack([(width - 1) - nnf[0], nnf[1]])
    return nnf_to_flow(nnf)


def _mirror_source(flow: torch.Tensor) -> torch.Tensor:
    """A flow computed on a mirrored source -> the flow of the unmirrored source (same targets)."""
    return nnf_to_flow(flow_to_nnf(flow).flip(-1))


def _eval_tss(pair: TSSPair, config: EvalConfig) -> PairResult:
    d = load_tss_pair(pair)
    a, b = resize_longer(d.image1, config.size), resize_longer(d.image2, config.size)
    flip = config.use_flip and pair.flip
    if flip:
        b = b.flip(-1)
    t0 = time.perf_counter()
    f_ab, f_ba = _match_both(config, a, b)
    seconds = time.perf_counter() - t0
    (H1, W1), (H2, W2) = d.image1.shape[-2:], d.image2.shape[-2:]
    (ha, wa), (hb, wb) = a.shape[-2:], b.shape[-2:]
    f_ab = flow_to_size(f_ab, (H1, W1), (W2 / wb, H2 / hb))
    f_ba = flow_to_size(f_ba, (H2, W2), (W1 / wa, H1 / ha))
    if flip:
        f_ab = _mirror_target(f_ab, W2)
        f_ba = _mirror_source(f_ba)
    acc_ab = flow_accuracy(f_ab, d.flow1, d.mask1, target_size=(H2, W2))
    acc_ba = flow_accuracy(f_ba, d.flow2, d.mask2, target_size=(H1, W1))
    scores = {"accuracy": float(np.nanmean([acc_ab, acc_ba])), "accuracy_1to2": acc_ab, "accuracy_2to1": acc_ba}
    return PairResult(pair.name, pair.subset, scores, seconds)


def _eval_keypoints(pair: KeypointPair, config: EvalConfig) -> PairResult:
    full_a, full_b = load_image(pair.source), load_image(pair.target)
    a, b = resize_longer(full_a, config.size), resize_longer(full_b, config.size)
    t0 = time.perf_counter()
    flow = _match(config, a, b)
    seconds = time.perf_counter() - t0
    (Ha, Wa), (Hb, Wb) = full_a.shape[-2:], full_b.shape[-2:]
    (ha, wa), (hb, wb) = a.shape[-2:], b.shape[-2:]
    # original pixels -> matched pixels (centres aligned), through the flow, and back to B's originals
    sa = np.array([wa / Wa, ha / Ha])
    sb = np.array([wb / Wb, hb / Hb])
    moved = transfer_keypoints(flow, (pair.source_points + 0.5) * sa - 0.5)
    pred = (moved + 0.5) / sb - 0.5
    if config.pck_norm == "bbox":
        box = pair.target_bbox if pair.target_bbox is not None else keypoint_bbox(pair.target_points)
        thresholds = {al: bbox_threshold(al, box) for al in config.alphas}
    else:
        thresholds = {al: image_threshold(al, (Hb, Wb)) for al in config.alphas}
    scores = {f"pck@{al:g}": pck(pred, pair.target_points, th) for al, th in thresholds.items()}
    return PairResult(pair.name, pair.category, scores, seconds)


def evaluate_pair(pair: TSSPair | KeypointPair, config: EvalConfig) -> PairResult:
    """Score one pair; missing or unreadable files give a skipped result instead of an error."""
    group = pair.subset if isinstance(pair, TSSPair) else pair.category
    missing = pair.missing()
    if missing:
        return PairResult(pair.name, group, skipped="missing " + ", ".join(str(p) for p in missing))
    if isinstance(pair, KeypointPair) and len(pair.source_points) == 0:
        return PairResult(pair.name, group, skipped="no keypoint is annotated in both images")
    seed = pair_seed(pair.name)
    torch.manual_seed(seed)
    np.random.seed(seed)
    try:
        result = _eval_tss(pair, config) if isinstance(pair, TSSPair) else _eval_keypoints(pair, config)
    except AnalogistError as exc:
        if type(exc).__name__ == "WeightsNotFoundError":
            raise  # the whole run would fail the same way
        return PairResult(pair.name, group, skipped=str(exc))
    result.peak_rss_mib = _peak_rss_mib()
    return result


def _summarise(
    dataset: str, pairs: Sequence[PairResult]
) -> tuple[list[str], dict[str, dict[str, float]], dict[str, int]]:
    done = [p for p in pairs if not p.skipped]
    metrics = list(done[0].scores) if done else []
    seen = {p.group for p in done}
    order = [g for g in TSS_SUBSETS if g in seen] + sorted(seen - set(TSS_SUBSETS))
    groups: dict[str, dict[str, float]] = {}
    counts: dict[str, int] = {}
    for g in order:
        members = [p for p in done if p.group == g]
        if not members:
            continue
        groups[g] = {m: float(np.nanmean([p.scores[m] for p in members])) for m in metrics}
        counts[g] = len(members)
    if groups:
        if dataset == "tss":
            # the TSS papers' "mean" is the mean of the three subset averages
            groups["mean"] = {m: float(np.mean([groups[g][m] for g in groups])) for m in metrics}
        else:
            groups["mean"] = {m: float(np.nanmean([p.scores[m] for p in done])) for m in metrics}
        counts["mean"] = len(done)
    return metrics, groups, counts


def evaluate(
    dataset: str,
    pairs: Sequence[TSSPair | KeypointPair],
    config: EvalConfig,
    *,
    workers: int = 1,
    engine: str = "local",
    address: str | None = None,
    progress: Progress = silent,
) -> Report:
    """Evaluate ``config.method`` on every pair: serially, in ``workers`` processes, or on a Ray cluster.

    Results come back in the order of ``pairs`` whatever the engine and the number of workers. Local
    workers are spawned (not forked) and split the CPU threads between them; ``engine="ray"`` runs
    pairs as Ray tasks (see :func:`analogist.batch.engines.map_unordered`, shared with ``analogist
    batch``); a pair whose Ray worker keeps dying is reported as skipped.
    """
    from ..batch.engines import map_unordered

    get_matcher(config.method)  # fail early on an unknown name
    start = time.perf_counter()

    def lost(i: int, message: str) -> PairResult:
        p = pairs[i]
        return PairResult(p.name, p.subset if isinstance(p, TSSPair) else p.category, skipped=message)

    done = map_unordered(
        evaluate_pair, [(p, config) for p in pairs], engine=engine, workers=workers, address=address, on_lost=lost
    )
    by_index = dict(progress(done, total=len(pairs), desc=f"eval {config.method}"))
    results = [by_index[i] for i in range(len(pairs))]
    peak = max([r.peak_rss_mib for r in results] + [_peak_rss_mib()])
    metrics, groups, counts = _summarise(dataset, results)
    times = [r.seconds for r in results if not r.skipped]
    return Report(
        dataset,
        config,
        metrics,
        list(results),
        groups,
        counts,
        float(np.median(times)) if times else float("nan"),
        peak,
        time.perf_counter() - start,
        workers,
    )


__all__ = ["PUBLISHED", "PCK_NORMS", "EvalConfig", "PairResult", "Report", "pair_seed", "evaluate_pair", "evaluate"]
