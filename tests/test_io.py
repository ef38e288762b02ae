"""Image I/O: every odd-but-valid image is converted, every bad one refused with a clear message."""

from __future__ import annotations

import io as _io
import os

import numpy as np
import pytest
import torch
from PIL import Image

from analogist import io
from analogist.errors import InputError


def _rgb(h: int = 24, w: int = 36, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _smooth(h: int = 24, w: int = 36) -> np.ndarray:
    """Gradients: survive JPEG's chroma subsampling, unlike noise."""
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx * 255 // (w - 1), yy * 255 // (h - 1), 255 - xx * 255 // (w - 1)], -1).astype(np.uint8)


@pytest.mark.parametrize(
    "ext,kw", [(".png", {}), (".bmp", {}), (".tif", {}), (".webp", {"lossless": True}), (".jpg", {"quality": 100})]
)
def test_formats_load_as_rgb_float(tmp_path, ext, kw):
    arr = _smooth()
    path = tmp_path / f"im{ext}"
    Image.fromarray(arr).save(path, **kw)
    img = io.load_image(path)
    assert img.shape == (1, 3, 24, 36) and img.dtype == torch.float32
    err = (img[0].permute(1, 2, 0).numpy() * 255 - arr).__abs__().mean()
    assert err < (3 if ext == ".jpg" else 0.01)


def test_gif_first_frame(tmp_path):
    frames = [Image.new("RGB", (10, 8), c) for c in [(255, 0, 0), (0, 0, 255)]]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    img = io.load_image(tmp_path / "a.gif")
    assert img[0, 0].mean() > 0.9 and img[0, 2].mean() < 0.1


def test_exif_orientation_applied(tmp_path):
    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:, :20] = 255  # left half white
    im = Image.fromarray(arr)
    exif = im.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    im.save(tmp_path / "o.jpg", exif=exif, quality=100)
    img = io.load_image(tmp_path / "o.jpg")
    assert img.shape[-2:] == (40, 20)
    assert img[0, :, :20].mean() > 0.9 and img[0, :, 20:].mean() < 0.1  # white half is now on top


def test_grayscale_palette_cmyk_16bit(tmp_path):
    Image.fromarray(np.full((8, 8), 128, np.uint8)).save(tmp_path / "g.png")
    g = io.load_image(tmp_path / "g.png")
    assert torch.allclose(g, torch.full_like(g, 128 / 255))

    Image.fromarray(_rgb(8, 8)).convert("P").save(tmp_path / "p.png")
    assert io.load_image(tmp_path / "p.png").shape == (1, 3, 8, 8)

    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(tmp_path / "c.jpg", quality=100)
    c = io.load_image(tmp_path / "c.jpg")
    assert c[0, 0].mean() > 0.9 and c[0, 1:].mean() < 0.1  # CMYK (0,1,1,0) is red

    Image.fromarray(np.full((8, 8), 30000, np.uint16)).save(tmp_path / "d.png")
    d = io.load_image(tmp_path / "d.png")
    assert torch.allclose(d, torch.full_like(d, 30000 / 65535), atol=1e-4)


def test_alpha_composited_on_white(tmp_path, caplog):
    arr = np.zeros((6, 6, 4), np.uint8)
    arr[..., 0] = 255
    arr[:3, :, 3] = 255  # top half opaque red, bottom half fully transparent
    Image.fromarray(arr, "RGBA").save(tmp_path / "a.png")
    with caplog.at_level("INFO", logger="analogist"):
        img = io.load_image(tmp_path / "a.png")
    assert torch.allclose(img[0, :, 3:], torch.ones(3, 3, 6))
    assert torch.allclose(img[0, :, :3], torch.tensor([1.0, 0, 0]).view(3, 1, 1).expand(3, 3, 6))
    assert "composited on white" in caplog.text
    Image.fromarray(arr[..., [0, 3]], "LA").save(tmp_path / "la.png")
    assert io.load_image(tmp_path / "la.png")[0, :, 4:].min() == 1.0


def test_resize_keeps_aspect_and_longer_side():
    img = torch.rand(1, 3, 60, 90)
    out = io.resize_longer(img, 30)
    assert out.shape == (1, 3, 20, 30)
    assert io.resize_longer(img, None) is img


def test_bad_inputs_are_input_errors(tmp_path, monkeypatch):
    with pytest.raises(InputError, match="no such file"):
        io.load_image(tmp_path / "missing.png")
    with pytest.raises(InputError, match="directory"):
        io.load_image(tmp_path)
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        io.load_image(tmp_path / "empty.png")
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(InputError, match="not an image"):
        io.load_image(tmp_path / "text.png")
    buf = _io.BytesIO()
    Image.fromarray(_rgb(64, 64)).save(buf, format="PNG")
    (tmp_path / "trunc.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(InputError, match="truncated or corrupt"):
        io.load_image(tmp_path / "trunc.png")
    Image.fromarray(_rgb(64, 64)).save(tmp_path / "big.png")
    monkeypatch.setattr(io, "MAX_PIXELS", 1000)
    with pytest.raises(InputError, match="megapixels"):
        io.load_image(tmp_path / "big.png")
    for size in (0, 8, 10**6, 12.5, True):
        with pytest.raises(InputError):
            io.check_size(size)


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.png"
    io.save_image(target, np.zeros((4, 4, 3), np.uint8))
    before = target.read_bytes()
    for exc in (RuntimeError, KeyboardInterrupt):
        with pytest.raises(exc):
            with io.atomic_path(target) as tmp:
                tmp.write_bytes(b"half")
                raise exc()
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's private 0600


def test_flo_round_trip_and_bad_file(tmp_path):
    flow = torch.randn(2, 7, 11)
    io.write_flo(tmp_path / "f.flo", flow)
    back = io.read_flo(tmp_path / "f.flo")
    assert back.shape == (2, 7, 11) and np.array_equal(back, flow.numpy())
    (tmp_path / "bad.flo").write_bytes(b"\x00" * 20)
    with pytest.raises(InputError, match="not a .flo"):
        io.read_flo(tmp_path / "bad.flo")
    data = (tmp_path / "f.flo").read_bytes()
    (tmp_path / "cut.flo").write_bytes(data[:-8])
    with pytest.raises(InputError, match="truncated"):
        io.read_flo(tmp_path / "cut.flo")


def test_animation_gif(tmp_path):
    frames = [np.full((8, 10, 3), v, np.uint8) for v in (0, 128, 255)]
    io.save_animation(tmp_path / "a.gif", frames, fps=10)
    im = Image.open(tmp_path / "a.gif")
    assert im.n_frames == 3 and im.size == (10, 8)
