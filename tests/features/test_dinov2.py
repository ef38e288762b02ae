"""DINOv2 backbones without the real checkpoints: a synthetic checkpoint in the official ViT-S/14 layout.

The key list below is written out from the official ``facebookresearch/dinov2`` hub model
(``vit_small``, ``img_size=518``, ``patch_size=14``, ``init_values=1.0``, ``block_chunks=0``), not
from analogist's module, so a renamed or reshaped parameter fails the strict load.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from analogist.errors import InputError, WeightsNotFoundError
from analogist.features import BACKBONES, get_backbone
from analogist.features.dinov2 import interpolate_pos_embed

DIM, DEPTH, HEADS, GRID = 384, 12, 6, 37  # ViT-S/14 trained at 518 px


def official_vits14_shapes() -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {
        "cls_token": (1, 1, DIM),
        "pos_embed": (1, 1 + GRID * GRID, DIM),
        "mask_token": (1, DIM),
        "patch_embed.proj.weight": (DIM, 3, 14, 14),
        "patch_embed.proj.bias": (DIM,),
        "norm.weight": (DIM,),
        "norm.bias": (DIM,),
    }
    for i in range(DEPTH):
        p = f"blocks.{i}."
        shapes.update(
            {
                p + "norm1.weight": (DIM,),
                p + "norm1.bias": (DIM,),
                p + "attn.qkv.weight": (3 * DIM, DIM),
                p + "attn.qkv.bias": (3 * DIM,),
                p + "attn.proj.weight": (DIM, DIM),
                p + "attn.proj.bias": (DIM,),
                p + "ls1.gamma": (DIM,),
                p + "norm2.weight": (DIM,),
                p + "norm2.bias": (DIM,),
                p + "mlp.fc1.weight": (4 * DIM, DIM),
                p + "mlp.fc1.bias": (4 * DIM,),
                p + "mlp.fc2.weight": (DIM, 4 * DIM),
                p + "mlp.fc2.bias": (DIM,),
                p + "ls2.gamma": (DIM,),
            }
        )
    return shapes


def synthetic_state(seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in official_vits14_shapes().items():
        t = torch.randn(shape, generator=gen)
        if key.endswith(("norm1.weight", "norm2.weight", "norm.weight")):
            t = 1 + 0.1 * t
        elif key.endswith("gamma"):
            t = 0.1 * t
        else:
            t = 0.02 * t
        state[key] = t
    return state


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> tuple:
    state = synthetic_state()
    path = tmp_path_factory.mktemp("dinov2") / "dinov2_vits14_pretrain.pth"
    torch.save(state, path)
    return path, state


@pytest.fixture(scope="module")
def net(checkpoint):
    return get_backbone("dinov2-s", weights=checkpoint[0])


def reference_forward(state: dict[str, torch.Tensor], image: torch.Tensor) -> dict[str, torch.Tensor]:
    """The official forward, spelled out on the state dict: explicit softmax attention, the official
    position-embedding interpolation (scale factor (n + 0.1) / 37), keys and tokens of every block."""
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x = (image - mean) / std
    _, _, H, W = x.shape
    h0, w0 = H // 14, W // 14
    t = F.conv2d(x, state["patch_embed.proj.weight"], state["patch_embed.proj.bias"], stride=14)
    t = torch.cat([state["cls_token"], t.flatten(2).transpose(1, 2)], dim=1)
    pos = state["pos_embed"]
    if (h0, w0) != (GRID, GRID):
        patch = pos[:, 1:].reshape(1, GRID, GRID, DIM).permute(0, 3, 1, 2)
        patch = F.interpolate(patch, scale_factor=((h0 + 0.1) / GRID, (w0 + 0.1) / GRID), mode="bicubic")
        pos = torch.cat([pos[:, :1], patch.permute(0, 2, 3, 1).reshape(1, -1, DIM)], dim=1)
    t = t + pos
    out = {}

    def ln(v, k):
        return F.layer_norm(v, (DIM,), state[k + ".weight"], state[k + ".bias"], eps=1e-6)

    def as_map(v):
        return v[:, 1:].reshape(1, h0, w0, DIM).permute(0, 3, 1, 2)

    for i in range(DEPTH):
        p = f"blocks.{i}."
        y = ln(t, p + "norm1")
        qkv = F.linear(y, state[p + "attn.qkv.weight"], state[p + "attn.qkv.bias"])
        n = qkv.shape[1]
        q, k, v = qkv.reshape(1, n, 3, HEADS, DIM // HEADS).permute(2, 0, 3, 1, 4)
        attn = ((q * (DIM // HEADS) ** -0.5) @ k.transpose(-2, -1)).softmax(-1)
        y = (attn @ v).transpose(1, 2).reshape(1, n, DIM)
        t = t + state[p + "ls1.gamma"] * F.linear(y, state[p + "attn.proj.weight"], state[p + "attn.proj.bias"])
        y = F.gelu(F.linear(ln(t, p + "norm2"), state[p + "mlp.fc1.weight"], state[p + "mlp.fc1.bias"]))
        t = t + state[p + "ls2.gamma"] * F.linear(y, state[p + "mlp.fc2.weight"], state[p + "mlp.fc2.bias"])
        out[f"key{i}"] = as_map(k.transpose(1, 2).reshape(1, n, DIM))
        out[f"block{i}"] = as_map(t)
    out["tokens"] = as_map(ln(t, "norm"))
    return out


def test_registered_as_downloadable_backbones():
    for name in ("dinov2-s", "dinov2-b", "dinov2-l"):
        assert name in BACKBONES and not BACKBONES[name].offline


def test_official_layout_loads_strictly(net, checkpoint):
    _, state = checkpoint
    own = net.vit.state_dict()
    assert set(own) == set(state) - {"mask_token"}
    for key, value in state.items():
        if key != "mask_token":
            assert torch.equal(own[key], value), key
    assert all(not p.requires_grad for p in net.parameters())


@pytest.mark.parametrize("change", ["extra", "missing", "registers", "wrong-shape"])
def test_other_checkpoints_are_one_line_errors(tmp_path, checkpoint, change):
    state = dict(checkpoint[1])
    if change == "extra":
        state["head.weight"] = torch.zeros(3)
    elif change == "missing":
        del state["blocks.11.ls2.gamma"]
    elif change == "registers":
        state["register_tokens"] = torch.zeros(1, 4, DIM)
    else:
        state["pos_embed"] = torch.zeros(1, 1 + 16 * 16, DIM)
    path = tmp_path / "broken.pth"
    torch.save(state, path)
    with pytest.raises(WeightsNotFoundError) as exc:
        get_backbone("dinov2-s", weights=path)
    assert "not a valid weight file" in str(exc.value) and "\n" not in str(exc.value)


def test_matches_the_official_forward(net, checkpoint):
    img = torch.rand(1, 3, 42, 70, generator=torch.Generator().manual_seed(3))
    ours = net.extract(img, net.names)
    ref = reference_forward(checkpoint[1], img)
    assert list(ours) == list(net.names)
    for name in ("key0", "block0", "key5", "block7", "key11", "block11", "tokens"):
        assert ours[name].shape == (1, DIM, 3, 5)
        assert torch.allclose(ours[name], ref[name], atol=1e-4, rtol=1e-4), name


@pytest.mark.parametrize("size", [(45, 61), (14, 14), (13, 29), (99, 100)])
def test_layer_maps_of_odd_sizes(net, size):
    img = torch.rand(1, 3, *size)
    feats = net.extract(img, ["key0", "block3", "key11", "tokens"])
    for layer, f in feats.items():
        assert net.stride(layer) == 14 and net.channels(layer) == DIM
        assert f.shape == (1, DIM, math.ceil(size[0] / 14), math.ceil(size[1] / 14)), layer
        assert torch.isfinite(f).all()


def test_runs_only_as_deep_as_asked(net):
    img = torch.rand(1, 3, 28, 28)
    assert list(net.extract(img, ["key2"])) == ["key2"]
    assert torch.equal(net.extract(img, ["block1"])["block1"], net.extract(img, ["block1", "tokens"])["block1"])


def test_position_embeddings_at_the_training_grid_are_the_identity(net, checkpoint):
    pos = checkpoint[1]["pos_embed"]
    assert torch.equal(interpolate_pos_embed(pos, (GRID, GRID)), pos)
    # at 518 px the patch tokens get exactly the trained embeddings
    x = torch.randn(1, 3, 518, 518)
    tokens = net.vit.embed(x)
    patches = net.vit.patch_embed(x)
    assert torch.equal(tokens[:, 1:], patches + pos[:, 1:])
    assert torch.equal(tokens[:, 0], checkpoint[1]["cls_token"][:, 0] + pos[:, 0])


def test_position_embeddings_interpolate_to_any_grid(checkpoint):
    pos = checkpoint[1]["pos_embed"]
    for grid in [(5, 9), (40, 23), (1, 1)]:
        out = interpolate_pos_embed(pos, grid)
        assert out.shape == (1, 1 + grid[0] * grid[1], DIM)
        assert torch.equal(out[:, 0], pos[:, 0])  # the class token's embedding is kept
    const = torch.full((1, 1 + GRID * GRID, 2), 0.5)
    assert torch.allclose(interpolate_pos_embed(const, (11, 50)), torch.full((1, 551, 2), 0.5))


def test_weights_are_found_like_the_torchvision_ones(tmp_path, monkeypatch, checkpoint):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("ANALOGIST_DINOV2_S_WEIGHTS", raising=False)
    monkeypatch.delenv("ANALOGIST_WEIGHTS_DIR", raising=False)
    with pytest.raises(WeightsNotFoundError) as exc:
        get_backbone("dinov2-s", download=False)
    msg = str(exc.value)
    assert "dinov2_vits14_pretrain.pth" in msg and "ANALOGIST_DINOV2_S_WEIGHTS" in msg
    assert str(tmp_path / "torch") in msg and "\n" not in msg
    monkeypatch.setenv("ANALOGIST_WEIGHTS_DIR", str(checkpoint[0].parent))
    assert get_backbone("dinov2-s", download=False).source == str(checkpoint[0])
    monkeypatch.delenv("ANALOGIST_WEIGHTS_DIR")
    monkeypatch.setenv("ANALOGIST_DINOV2_S_WEIGHTS", str(checkpoint[0]))
    assert get_backbone("dinov2-s", download=False).source == str(checkpoint[0])


def test_unknown_layer_and_inversion_are_one_line_errors(net):
    with pytest.raises(InputError, match="no layer 'relu4_1'"):
        net.extract(torch.rand(1, 3, 28, 28), ["relu4_1"])
    with pytest.raises(InputError, match="cannot be inverted"):
        net.subnet("block1", "block2")


def test_nn_matcher_accepts_dinov2(monkeypatch, checkpoint):
    from analogist.eval.matchers import get_matcher

    monkeypatch.setenv("ANALOGIST_DINOV2_S_WEIGHTS", str(checkpoint[0]))
    a = torch.rand(1, 3, 56, 70, generator=torch.Generator().manual_seed(1))
    flow = get_matcher("nn").fn(a, a.clone(), backbone="dinov2-s")
    assert flow.shape == (2, 56, 70)
    assert flow.abs().max() < 1e-3  # an image matched to itself stays in place


def test_info_lists_dinov2_with_every_place_it_looked(tmp_path, monkeypatch, capsys, checkpoint):
    from cli_helpers import run_cli

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    for var in ("ANALOGIST_DINOV2_S_WEIGHTS", "ANALOGIST_DINOV2_B_WEIGHTS", "ANALOGIST_WEIGHTS_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ANALOGIST_DINOV2_B_WEIGHTS", str(tmp_path / "nowhere.pth"))
    code, out, _ = run_cli(capsys, "info")
    assert code == 0
    block = out[out.index("  dinov2-s") : out.index("  dinov2-l")]
    assert block.split()[1] == "missing"
    assert "$ANALOGIST_DINOV2_S_WEIGHTS (not set)" in block
    assert "$ANALOGIST_WEIGHTS_DIR/dinov2_vits14_pretrain.pth (not set)" in block
    assert f"{tmp_path / 'hub' / 'checkpoints' / 'dinov2_vits14_pretrain.pth'} (absent)" in block
    assert f"{tmp_path / 'nowhere.pth'} (absent)" in block  # dinov2-b's variable, set to a missing file
    monkeypatch.setenv("ANALOGIST_WEIGHTS_DIR", str(checkpoint[0].parent))
    _, out, _ = run_cli(capsys, "info")
    line = next(x for x in out.splitlines() if x.startswith("  dinov2-s"))
    assert "available" in line and str(checkpoint[0]) in line
    assert f"{checkpoint[0]} (found)" in out


def test_dinov2_guides_deep_image_analogy(monkeypatch, checkpoint):
    from analogist.methods.analogy import AnalogyParams
    from analogist.methods.analogy.core import _semantic_guide

    monkeypatch.setenv("ANALOGIST_DINOV2_S_WEIGHTS", str(checkpoint[0]))
    a = torch.rand(1, 3, 42, 64, generator=torch.Generator().manual_seed(2))
    ab, ba = _semantic_guide(a, a.clone(), (3, 4), (3, 4), AnalogyParams(match_backbone="dinov2-s", size=None))
    ys, xs = torch.meshgrid(torch.arange(3), torch.arange(4), indexing="ij")
    identity = torch.stack([xs, ys])
    assert torch.equal(ab, identity) and torch.equal(ba, identity)  # on its `tokens` layer, at stride 14


def test_download_lands_in_the_hub_cache_or_fails_in_one_sentence(tmp_path, monkeypatch, checkpoint):
    import analogist.features.weights as weights

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("ANALOGIST_DINOV2_S_WEIGHTS", raising=False)
    monkeypatch.delenv("ANALOGIST_WEIGHTS_DIR", raising=False)
    assert (
        weights.download_url("dinov2-s")
        == "https://dl.fbaipublicfiles.com/dinov2/dinov2_vits14/dinov2_vits14_pretrain.pth"
    )
    dest = tmp_path / "hub" / "checkpoints" / "dinov2_vits14_pretrain.pth"
    monkeypatch.setattr(weights, "download_url", lambda name: (tmp_path / "unreachable.pth").as_uri())
    with pytest.raises(WeightsNotFoundError, match="could not be downloaded") as exc:
        get_backbone("dinov2-s")
    assert "\n" not in str(exc.value) and not dest.exists()
    monkeypatch.setattr(weights, "download_url", lambda name: checkpoint[0].as_uri())  # a stand-in server
    assert get_backbone("dinov2-s").source == str(dest) and dest.is_file()
