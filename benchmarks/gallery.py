"""Every method on user-like pairs at the sizes people use: contact sheets to look at, and measures.

The pairs are listed in ``benchmarks/gallery_pairs.csv`` (photo/painting, face/face at different
scale and framing, animal/animal of different species, object/object, photo/sketch, an unrelated
pair), read from ``../shared/data``; each has a ``split`` (dev: where changes are chosen, confirm:
where they are checked). Each method runs through the command line with its defaults, as a user
runs it (``analogist METHOD A B -o ... --size S``); finished runs are kept under ``--out`` and reused,
so a second call only draws the sheets again.

    python benchmarks/gallery.py                                  # everything, 128/256/512 px
    python benchmarks/gallery.py --sizes 128 --methods samnet,align --split dev
    python benchmarks/gallery.py --sizes 256 --overview face-125,cat-lion,c1-starry   # + one sheet of all

Writes ``<out>/<method>_<size>.jpg`` (one row per pair: inputs and outputs, measures in the label)
and ``<out>/measures.csv``; prints the median of each measure per method, size and split.
Measures (``gallery_measures.py``): ``fold`` share of a dense field that folds and ``area_spread``;
``structure`` (SSIM of edge maps, content vs output), ``colour_moved`` / ``texture_moved`` (share of the
content-to-style gap closed), ``sharpness`` (edge strength vs the content; well under 1 = a blur);
``ghost`` (edge contrast lost in a blend of two aligned images); ``border`` (step at the frame
borders over the step inside, video).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import gallery_measures as gm
import numpy as np
from PIL import Image, ImageDraw

from analogist.cli import main as cli
from analogist.io import read_flo, read_image_array

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data"
CELL = 256  # sheet row height: large enough to judge a 128-px output shown at twice its size


@dataclass(frozen=True)
class Pair:
    id: str
    kind: str
    a: Path
    b: Path
    split: str
    crop_b: tuple[float, float, float, float] | None


def read_pairs(path: Path = HERE / "gallery_pairs.csv") -> list[Pair]:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [
        Pair(
            r["id"],
            r["kind"],
            DATA / r["a"],
            DATA / r["b"],
            r["split"],
            tuple(float(v) for v in r["crop_b"].split(";")) if r["crop_b"] else None,  # type: ignore[arg-type]
        )
        for r in rows
    ]


def inputs(pair: Pair, work: Path) -> tuple[Path, Path]:
    """The pair's two files; a cropped B (a different framing) is written once under ``work``."""
    if pair.crop_b is None:
        return pair.a, pair.b
    out = work / "inputs" / f"{pair.id}_b.png"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        im = Image.open(pair.b).convert("RGB")
        x0, y0, x1, y1 = pair.crop_b
        w, h = im.size
        im.crop((int(x0 * w), int(y0 * h), int(x1 * w), int(y1 * h))).save(out)
    return pair.a, out


def clip(a: Path, work: Path, pair_id: str, size: int, n: int = 12) -> Path:
    """A short pan over image A (a folder of frames), the video method's input."""
    folder = work / "inputs" / f"{pair_id}_clip{size}"
    if not folder.exists():
        im = Image.open(a).convert("RGB")
        im.thumbnail((int(size * 1.25), int(size * 1.25)))
        w, h = im.size
        cw, ch = int(w * 0.8), int(h * 0.8)
        tmp = folder.with_name(folder.name + ".part")
        tmp.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            x = round((w - cw) * i / (n - 1))
            im.crop((x, (h - ch) // 2, x + cw, (h - ch) // 2 + ch)).save(tmp / f"f{i:02d}.png")
        tmp.rename(folder)
    return folder


# method -> (argv after the inputs, shown outputs, how to measure)
METHODS: dict[str, tuple[list[str], list[str], str]] = {
    "analogy": (["analogy"], ["a_prime.png", "b.png"], "analogy"),
    "buddies": (["buddies"], ["buddies.png"], "buddies"),
    "align": (["align"], ["blend.png", "aligned_a.png"], "align"),
    "hybrid": (["hybrid"], ["hybrid.png"], "hybrid"),
    "morph": (["morph", "--frames", "5", "--no-mp4"], ["frames/frame_002.png"], "morph"),
    "stylize-fast": (["stylize"], ["out.png"], "transfer"),
    "stylize-decoder": (["stylize", "--preset", "decoder"], ["out.png"], "transfer"),
    "appearance-free": (["appearance"], ["result.png"], "transfer"),
    "appearance-learned": (["appearance", "--form", "learned"], ["result.png"], "transfer"),
    "samnet": (["samnet"], ["warped.png", "stylised.png"], "samnet"),
    "video": (["video"], ["frames/frame_00000.png", "frames/frame_00006.png", "frames/frame_00011.png"], "video"),
}


def run(method: str, pair: Pair, size: int, work: Path) -> tuple[Path, float, str]:
    """Run one method on one pair at one size (once); the output folder, seconds, error line or ''."""
    folder = work / "runs" / method / str(size) / pair.id
    done = folder / "seconds.txt"
    if done.exists():
        seconds, _, error = done.read_text().partition("\n")
        return folder, float(seconds), error.strip()
    argv, _, _ = METHODS[method]
    a, b = inputs(pair, work)
    if method == "video":
        args = ["video", str(clip(a, work, pair.id, size)), str(b), "-o", str(folder / "out.mp4")]
        args += ["--fps", "12", "--frames-dir", str(folder / "frames")]
    elif argv[0] == "stylize":
        args = [argv[0], str(a), str(b), "-o", str(folder / "out.png"), *argv[1:]]
    else:
        args = [argv[0], str(a), str(b), "-o", str(folder), *argv[1:]]
    err = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stderr(err):
        code = cli(["-q", *args, "--size", str(size)])
    seconds = time.perf_counter() - start
    error = "" if code == 0 else (err.getvalue().strip().splitlines() or [f"exit {code}"])[0]
    folder.mkdir(parents=True, exist_ok=True)
    done.write_text(f"{seconds:.2f}\n{error}\n")
    return folder, seconds, error


def measure(method: str, pair: Pair, size: int, folder: Path, work: Path) -> dict[str, float]:
    kind = METHODS[method][2]
    a_path, b_path = inputs(pair, work)
    img = read_image_array
    a, b = (gm.fit(im, _shape(im, size)) for im in (img(a_path), img(b_path)))
    m: dict[str, float] = {}
    if kind == "analogy":
        m.update(gm.transfer(a, b, img(folder / "a_prime.png")))
        m.update(gm.folds(read_flo(folder / "flow_ab.flo")))
    elif kind == "transfer":
        m.update(gm.transfer(a, b, img(folder / ("out.png" if method.startswith("stylize") else "result.png"))))
    elif kind == "samnet":
        m.update(gm.transfer(a, b, img(folder / "stylised.png")))
        m.update(gm.folds(read_flo(folder / "flow.flo")))
    elif kind == "buddies":
        m["pairs"] = float(sum(1 for _ in open(folder / "points.csv")) - 1)
    elif kind in ("align", "hybrid"):
        mix = img(folder / ("blend.png" if kind == "align" else "hybrid.png"))
        m["ghost"] = gm.ghosting(img(folder / "aligned_a.png"), img(folder / "aligned_b.png"), mix)
        m["sharpness"] = gm.sharpness(gm.fit(a, mix.shape[:2]), mix)
        if kind == "align":
            m.update(gm.folds(read_flo(folder / "flow.flo")))
    elif kind == "morph":
        frames = sorted((folder / "frames").glob("frame_*.png"))
        m["ghost"] = gm.ghosting(img(frames[0]), img(frames[-1]), img(frames[len(frames) // 2]))
    elif kind == "video":
        frames = [img(p) for p in sorted((folder / "frames").glob("frame_*.png"))]
        m["border"] = gm.border_artefacts(frames)
        first = img(sorted(clip(a_path, work, pair.id, size).iterdir())[0])
        m["colour_moved"] = gm.transfer(gm.fit(first, frames[0].shape[:2]), b, frames[0])["colour_moved"]
    return {k: round(v, 3) for k, v in m.items()}


def _shape(im: np.ndarray, size: int) -> tuple[int, int]:
    h, w = im.shape[:2]
    s = size / max(h, w)
    return max(1, round(h * s)), max(1, round(w * s))


def _tile(path: Path | None, height: int) -> Image.Image:
    if path is None or not path.exists():
        return Image.new("RGB", (height, height), (90, 90, 90))
    im = Image.open(path).convert("RGB")
    return im.resize((max(1, round(im.width * height / im.height)), height), Image.BILINEAR)


def sheet(method: str, size: int, rows: list[tuple[Pair, Path, dict[str, float], str, float]], work: Path) -> Path:
    """One contact sheet: per pair A, B and the shown outputs, a label with the measures."""
    shown = METHODS[method][1]
    lines = []
    for pair, folder, m, error, seconds in rows:
        a, b = inputs(pair, work)
        tiles = [_tile(a, CELL), _tile(b, CELL)] + [_tile(folder / s if not error else None, CELL) for s in shown]
        width = sum(t.width for t in tiles) + 4 * len(tiles)
        line = Image.new("RGB", (width, CELL + 18), "white")
        x = 0
        for t in tiles:
            line.paste(t, (x, 18))
            x += t.width + 4
        text = f"{pair.id} ({pair.kind}, {pair.split}) {seconds:.1f}s  " + (
            error[:120] if error else "  ".join(f"{k} {v:g}" for k, v in m.items())
        )
        ImageDraw.Draw(line).text((4, 3), text, fill="black")
        lines.append(line)
    out = work / f"{method}_{size}.jpg"
    canvas = Image.new("RGB", (max(ln.width for ln in lines), sum(ln.height for ln in lines)), "white")
    y = 0
    for ln in lines:
        canvas.paste(ln, (0, y))
        y += ln.height
    canvas.save(out, quality=88)
    return out


#: the output an overview shows per method (default: the first shown one)
MAIN = {"samnet": "stylised.png", "video": "frames/frame_00006.png"}


def overview(methods: list[str], size: int, pairs: list[Pair], work: Path, cell: int = 160) -> Path:
    """One sheet of every method at a glance: per pair A, B, then each method's main output, the
    methods named in a header row."""
    heads = ["A", "B", *methods]
    lines = []
    for pair in pairs:
        a, b = inputs(pair, work)
        paths: list[Path | None] = [a, b]
        for method in methods:
            folder, _, error = run(method, pair, size, work)  # cached: runs only what is missing
            paths.append(None if error else folder / MAIN.get(method, METHODS[method][1][0]))
        lines.append([_tile(p, cell) for p in paths])
    widths = [max(row[i].width for row in lines) for i in range(len(heads))]
    canvas = Image.new("RGB", (sum(widths) + 4 * len(widths), 16 + len(lines) * (cell + 4)), "white")
    draw = ImageDraw.Draw(canvas)
    x = 0
    for i, head in enumerate(heads):
        draw.text((x + 4, 2), head, fill="black")
        for j, row in enumerate(lines):
            canvas.paste(row[i], (x, 16 + j * (cell + 4)))
        x += widths[i] + 4
    out = work / f"overview_{size}.jpg"
    canvas.save(out, quality=88)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated (default: all)")
    ap.add_argument("--sizes", default="128,256,512")
    ap.add_argument("--split", choices=("dev", "confirm", "all"), default="all")
    ap.add_argument("--pairs", default="", help="comma-separated pair ids (default: all)")
    ap.add_argument("--out", type=Path, default=HERE / "out" / "gallery")
    ap.add_argument("--overview", default="", help="comma-separated pair ids: also one sheet of every method on them")
    args = ap.parse_args()
    if not DATA.is_dir():
        print(f"the gallery needs {DATA} (the shared data beside the checkout)")
        return 2
    pairs = [p for p in read_pairs() if args.split in ("all", p.split)]
    if args.pairs:
        pairs = [p for p in pairs if p.id in args.pairs.split(",")]
    table = []
    for method in args.methods.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            rows = []
            for pair in pairs:
                folder, seconds, error = run(method, pair, size, args.out)
                m = {} if error else measure(method, pair, size, folder, args.out)
                rows.append((pair, folder, m, error, seconds))
                table.append(
                    {
                        "method": method,
                        "size": size,
                        "pair": pair.id,
                        "kind": pair.kind,
                        "split": pair.split,
                        "seconds": round(seconds, 2),
                        "error": error,
                        **m,
                    }
                )
                print(f"{method:18s} {size:4d} {pair.id:18s} {seconds:6.1f}s {error or m}", flush=True)
            print(f"sheet: {sheet(method, size, rows, args.out)}")
    if args.overview:
        chosen = [p for p in read_pairs() if p.id in args.overview.split(",")]
        for size in (int(s) for s in args.sizes.split(",")):
            print(f"overview: {overview(args.methods.split(','), size, chosen, args.out)}")
    keys = sorted({k for r in table for k in r} - {"method", "size", "pair", "kind", "split", "error"})
    with open(args.out / "measures.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, ["method", "size", "pair", "kind", "split", "error", *keys])
        w.writeheader()
        w.writerows(table)
    print("\nmedians per method, size and split (errors: runs that stopped with an error line)")
    groups: dict[tuple[str, int, str], list[dict]] = {}
    for r in table:
        groups.setdefault((r["method"], r["size"], r["split"]), []).append(r)
    for (method, size, split), rs in groups.items():
        ok = [r for r in rs if not r["error"]]
        med = {k: statistics.median(r[k] for r in ok if k in r) for k in keys if any(k in r for r in ok)}
        worst_fold = max((r.get("fold", 0) for r in ok), default=0)
        print(
            f"{method:18s} {size:4d} {split:8s} n={len(rs)} errors={len(rs) - len(ok)} "
            + " ".join(f"{k}={v:.3g}" for k, v in med.items())
            + (f" max_fold={worst_fold:.3f}" if "fold" in med else "")
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
