"""SAM-Net's fold-aware fit (issue 24): crossing matches no longer fold the field, a field that does not
fold is left as it is, and SAM-Net's map of unrelated images stays one-to-one."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from analogist.data import example_path
from analogist.errors import InputError
from analogist.io import load_image
from analogist.matching.affine_field import field_targets, fit_affine_field, identity_field
from analogist.matching.flow import identity_grid
from analogist.methods.samnet import SAMNetParams, sam_net
from analogist.methods.samnet.fold_fit import fold_aware_fit, fold_aware_update, fold_cells, global_similarity


def smooth_warp(n: int = 16) -> torch.Tensor:
    """Targets ``(2, n, n)`` of a known smooth warp: a rotation, a zoom and a gentle wave."""
    xs, ys = identity_grid(n, n, dtype=torch.float64)
    c, s = math.cos(0.2), math.sin(0.2)
    u, v = xs - n / 2, ys - n / 2
    tx = 0.9 * (c * u - s * v) + n / 2 + 0.6 * torch.sin(ys / 3)
    ty = 0.9 * (s * u + c * v) + n / 2 + 0.6 * torch.sin(xs / 4)
    return torch.stack([tx, ty])


def crossed(targets: torch.Tensor) -> torch.Tensor:
    """``targets`` with a 6x6 block mirrored left-right (confident matches that cross)."""
    out = targets.clone()
    out[:, 5:11, 5:11] = targets[:, 5:11, 5:11].flip(-1)
    return out


def fold_share(flow: torch.Tensor, step: int = 4) -> float:
    """The gallery's measure (benchmarks/gallery_measures.folds): share of negative Jacobian determinants
    of ``x -> x + flow(x)`` on the flow subsampled ``step`` times."""
    f = flow.numpy()[:, ::step, ::step] / step
    dxx, dxy = np.gradient(f[0], axis=1), np.gradient(f[0], axis=0)
    dyx, dyy = np.gradient(f[1], axis=1), np.gradient(f[1], axis=0)
    return float((((1 + dxx) * (1 + dyy) - dxy * dyx) < 0).mean())


def test_a_field_fitted_to_a_smooth_warp_does_not_fold_and_the_fold_aware_fit_leaves_it() -> None:
    warp = smooth_warp()
    conf = torch.full((16, 16), 0.5, dtype=torch.float64)
    plain = fit_affine_field(warp, conf, 2, 0.1)
    assert not fold_cells(plain).any()
    torch.testing.assert_close(fold_aware_fit(warp, conf, field_targets(plain), 2, 0.1), plain)


def test_crossing_matches_fold_the_plain_fit_but_not_the_fold_aware_one() -> None:
    warp = smooth_warp()
    matches, conf = crossed(warp), torch.full((16, 16), 0.5, dtype=torch.float64)
    plain = fit_affine_field(matches, conf, 2, 0.1)
    assert fold_cells(plain).sum() >= 8  # the plain fit folds across the crossed block
    fitted = fold_aware_fit(matches, conf, warp, 2, 0.1)
    assert not fold_cells(fitted).any()
    # away from the block the fit is the plain one: only where it folds does the field lean on the anchor
    torch.testing.assert_close(fitted[:, :, 14:], plain[:, :, 14:], atol=1e-6, rtol=0)


def test_fold_cells_of_the_identity_and_of_a_mirror() -> None:
    ident = identity_field((8, 8))
    assert not fold_cells(ident).any()
    mirror = ident.clone()
    mirror[0], mirror[2] = -ident[0], 7.0
    assert fold_cells(mirror).all()


def test_global_similarity_recovers_a_similarity_and_never_returns_a_mirror() -> None:
    xs, ys = identity_grid(10, 12, dtype=torch.float64)
    sim = torch.stack([0.8 * xs - 0.3 * ys + 2, 0.3 * xs + 0.8 * ys - 1])
    ones = torch.ones(10, 12, dtype=torch.float64)
    ident = torch.stack([xs, ys])
    torch.testing.assert_close(global_similarity(sim, ones, ident), sim)
    mirrored = torch.stack([11 - xs, ys])  # no similarity explains it: the fallback
    torch.testing.assert_close(global_similarity(mirrored, ones, ident), ident)


def test_unrelated_images_map_one_to_one() -> None:
    """A cat against an astronaut at 128 px (the gallery's setting): the map folds on well under 5 % of
    the image (0.20 before the fold-aware fit, with ``fold_rounds=0, start_kind="affine"``)."""
    a, b = load_image(example_path("cat.jpg"), 128), load_image(example_path("astronaut.jpg"), 128)
    res = sam_net(a, b, SAMNetParams(size=None, render="loop"))
    assert fold_share(res.flow) < 0.05


def test_fold_parameters_are_checked() -> None:
    with pytest.raises(InputError):
        SAMNetParams(start_kind="thin-plate")
    with pytest.raises(InputError):
        SAMNetParams(fold_rounds=-1)


def test_the_learned_update_leans_back_only_where_it_folds() -> None:
    """G's proposal turns a 2x2 block upside down (the map folds around it): the update leans back on the
    previous field there and keeps G's proposal everywhere else."""
    previous = identity_field((12, 12)).double()
    new = previous.clone()
    new[:, 5:7, 5:7] = new[:, 5:7, 5:7] * torch.tensor([-1.0, 1, 1, 1, -1, 1], dtype=new.dtype)[:, None, None]
    new[2, 5:7, 5:7] += 11.0  # (x, y) -> (11 - x, -y)
    new[:, 0, :] += 0.1  # a fold-free change far from the block
    assert fold_cells(new).any()
    out = fold_aware_update(new, previous)
    assert not fold_cells(out).any()
    torch.testing.assert_close(out[:, 0, :], new[:, 0, :])
    torch.testing.assert_close(fold_aware_update(previous, previous), previous)
