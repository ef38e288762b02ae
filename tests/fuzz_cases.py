"""Hand-made bad and odd inputs for every command, and the checks each run must pass.

Shared by ``tests/cli/test_fuzz.py`` (a bounded selection) and ``benchmarks/fuzz.py`` (all of them, plus
randomly corrupted files). A run passes when it exits with the expected status, a failing run prints a
first stderr line starting with ``error:`` and no traceback, no file that existed before it changed
(inputs are never overwritten) and a failing run left no new file or folder behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import io as _io
import itertools
import os
import signal
import struct
import time
import traceback
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from analogist.cli import main

#: Each command with the files it writes into its output folder (or None for a single output file).
FOLDER_OUTPUTS = {
    "analogy": ["a_prime.png", "b.png", "overview.png", "report.json"],
    "timelapse": ["frame_000.png", "timelapse.gif"],
    "buddies": ["buddies.png", "points.csv"],
    "align": ["aligned_a.png", "flow.png"],
    "hybrid": ["hybrid.png", "mask.png"],
    "morph": ["frames/frame_000.png", "morph.gif"],
    "samnet": ["flow.flo", "stylised.png", "report.json"],
    "appearance": ["result.png", "report.json"],  # sheet.png only with --sheet-levels
}
FILE_COMMANDS = ("features", "stylize")
SMALL = ["--size", "32"]


# ------------------------------------------------------------------------------------------ files


def png_header(w: int, h: int) -> bytes:
    """A PNG whose header claims ``w`` x ``h`` pixels over a few bytes of data."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + chunk(b"IEND", b"")
    )


def photo(h: int = 40, w: int = 48, seed: int = 0) -> np.ndarray:
    """A smooth, structured uint8 RGB picture ``(h, w, 3)`` (gradients and a disc), cheap to match."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    disc = ((x - 0.5) ** 2 + (y - 0.45) ** 2 < 0.08).astype(float)
    img = np.stack([x, y, disc], -1) * 200 + rng.uniform(0, 40, (h, w, 3))
    return img.clip(0, 255).astype(np.uint8)


def odd_valid_images(folder: Path) -> list[Path]:
    """Unusual but valid images that every command must accept (converted, not refused)."""
    folder.mkdir(parents=True, exist_ok=True)
    rgb = photo()
    made: list[Path] = []

    def save(name: str, im: Image.Image, **kw: object) -> None:
        im.save(folder / name, **kw)
        made.append(folder / name)

    base = Image.fromarray(rgb)
    save("gray16.png", Image.fromarray(rgb[..., 0].astype(np.uint16) * 257))
    save("cmyk.jpg", base.convert("CMYK"))
    save("palette_transparent.png", base.convert("P"), transparency=0)
    save("la.png", base.convert("LA"))
    save("rgba.png", base.convert("RGBA"))
    save("bilevel.png", base.convert("1"))
    save("gray.jpg", base.convert("L"), progressive=True)
    save("interlaced.png", base)
    save("float.tif", Image.fromarray(rgb[..., 1].astype(np.float32) / 255.0))
    save("int32.tif", Image.fromarray(rgb[..., 2].astype(np.int32) * 100))
    save("image.webp", base)
    save("image.bmp", base)
    frames = [Image.fromarray(photo(seed=s)) for s in range(3)]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:])
    made.append(folder / "animated.gif")
    frames[0].save(folder / "multipage.tif", save_all=True, append_images=frames[1:])
    made.append(folder / "multipage.tif")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees
    save("rotated.jpg", base, exif=exif.tobytes())
    save("tiny_1x1.png", Image.fromarray(rgb[:1, :1]))
    save("thin_1x300.png", Image.fromarray(np.repeat(rgb[:1], 1, 0)[:, :1].repeat(300, 0)))
    save("wide_300x2.png", Image.fromarray(np.tile(rgb[:2, :1], (1, 300, 1))))
    save("unicodé 画像.png", base)
    return made


def bad_images(folder: Path) -> dict[str, Path]:
    """Files that are not readable images, each a one-line refusal."""
    folder.mkdir(parents=True, exist_ok=True)
    good = _io.BytesIO()
    Image.fromarray(photo()).save(good, format="PNG")
    data = good.getvalue()
    files = {
        "zero_byte.png": b"",
        "truncated.png": data[: len(data) // 2],
        "garbage.png": bytes(np.random.default_rng(1).integers(0, 256, 500, dtype=np.uint8)),
        "text.jpg": b"this is not an image\n",
        "bomb.png": png_header(100_000, 100_000),
        "header_only_100mp.png": png_header(10_000, 10_000),
    }
    out = {}
    for name, content in files.items():
        (folder / name).write_bytes(content)
        out[name] = folder / name
    (folder / "a_folder.png").mkdir(exist_ok=True)
    out["a_folder.png"] = folder / "a_folder.png"
    out["missing.png"] = folder / "missing.png"
    return out


# ------------------------------------------------------------------------------------------ runs


@dataclass
class Outcome:
    code: int | None
    stderr: str
    traceback: str | None = None
    modified: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)

    @property
    def first_line(self) -> str:
        lines = self.stderr.strip().splitlines()
        return lines[0] if lines else ""


def snapshot(root: Path) -> dict[str, str]:
    """Relative path -> content hash (files) or ``dir`` for everything under ``root``."""
    snap = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            snap[os.path.relpath(os.path.join(dirpath, d), root)] = "dir"
        for f in filenames:
            p = os.path.join(dirpath, f)
            if os.path.islink(p):
                snap[os.path.relpath(p, root)] = "link:" + os.readlink(p)
                continue
            with open(p, "rb") as fh:
                snap[os.path.relpath(p, root)] = hashlib.sha256(fh.read()).hexdigest()
    return snap


def run_checked(argv: list[str], root: Path) -> Outcome:
    """Run ``analogist ARGV`` in-process inside workspace ``root`` and compare the workspace before/after."""
    before = snapshot(root)
    err = _io.StringIO()
    tb = None
    # inside the workspace, so that a relative or empty output path cannot write anywhere else
    with contextlib.chdir(root), contextlib.redirect_stderr(err), contextlib.redirect_stdout(_io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
        except BaseException:  # noqa: BLE001  (a traceback is exactly what is being counted)
            code, tb = None, traceback.format_exc()
    after = snapshot(root)
    modified = sorted(k for k, v in before.items() if k in after and after[k] != v or k not in after)
    leftovers = sorted(k for k in after if k not in before) if code != 0 else []
    return Outcome(code, err.getvalue(), tb, modified, leftovers)


@dataclass
class Case:
    """One targeted run: ``argv`` built inside a fresh workspace, and the exit statuses it may end with."""

    name: str
    build: Callable[[Path], list[str]]
    expect: tuple[int, ...] = (2,)
    #: context the run happens in, e.g. a patch that interrupts it (Ctrl-C) at a chosen moment
    around: Callable[[], contextlib.AbstractContextManager] | None = None
    #: files a run that does not fail may leave (a concurrent writer's complete output), checked by ``verify``
    verify: Callable[[Path], list[str]] | None = None

    def problems(self, root: Path) -> tuple[Outcome, list[str]]:
        with self.around() if self.around else contextlib.nullcontext():
            argv = self.build(root)
            out = run_checked(argv, root)
        found = []
        if out.traceback:
            found.append("traceback: " + out.traceback.strip().splitlines()[-1])
        elif out.code not in self.expect:
            found.append(f"exit {out.code}, expected {self.expect}: {out.first_line}")
        if out.code not in (0, None) and not out.first_line.startswith(("error: ", "interrupted", "terminated")):
            found.append(f"first line {out.first_line!r}")
        if out.code not in (0, None) and len(out.stderr.strip().splitlines()) != 1:
            found.append(f"{len(out.stderr.strip().splitlines())} lines on stderr")
        if out.modified and self.verify is None:
            found.append(f"modified {out.modified}")
        if self.verify is not None:
            found += self.verify(root)
        elif out.leftovers:
            found.append(f"left behind {out.leftovers}")
        return out, found


def workspace(root: Path) -> dict[str, Path]:
    """Two small good images, a text file, and the bad images under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    Image.fromarray(photo(seed=0)).save(root / "a.png")
    Image.fromarray(photo(seed=1)[:, ::-1]).save(root / "b.jpg")
    (root / "notes.txt").write_text("not weights\n")
    files = {"a": root / "a.png", "b": root / "b.jpg", "text": root / "notes.txt"}
    files.update(bad_images(root / "bad"))
    bad_images(root / BAD_UNICODE)
    return files


#: A second home for the bad files: spaces, accents and non-Latin script in the path.
BAD_UNICODE = "bäd dir ✓ 画像"


def _argv(cmd: str, a: str, b: str, out: str, *extra: str) -> list[str]:
    inputs = [a] if cmd == "features" else [a, b]
    return [cmd, *inputs, "-o", out, *SMALL, *extra]


def targeted_cases() -> list[Case]:
    """The issue's table of hand-made cases, for every command."""
    cases: list[Case] = []
    commands = list(FOLDER_OUTPUTS) + list(FILE_COMMANDS)
    bad_names = [
        "zero_byte.png",
        "truncated.png",
        "garbage.png",
        "text.jpg",
        "bomb.png",
        "header_only_100mp.png",
        "a_folder.png",
        "missing.png",
    ]
    for cmd in commands:
        out_name = "out" if cmd in FOLDER_OUTPUTS else "out.png"
        for bad, slot, folder in itertools.product(bad_names, ("first", "second"), ("bad", BAD_UNICODE)):
            if cmd == "features" and slot == "second":
                continue

            def build(root: Path, cmd=cmd, bad=bad, slot=slot, out_name=out_name, folder=folder) -> list[str]:
                files = workspace(root)
                a, b = str(files["a"]), str(files["b"])
                if slot == "first":
                    a = str(root / folder / bad)
                else:
                    b = str(root / folder / bad)
                return _argv(cmd, a, b, str(root / out_name))

            cases.append(Case(f"{cmd}: {folder}/{bad} as {slot} input", build))
        if cmd == "timelapse":
            for bad in bad_names:

                def build(root: Path, bad=bad) -> list[str]:
                    files = workspace(root)
                    return [
                        "timelapse",
                        str(files["a"]),
                        str(files["b"]),
                        str(root / "bad" / bad),
                        "-o",
                        str(root / "out"),
                        *SMALL,
                    ]

                cases.append(Case(f"timelapse: {bad} as a later reference", build))
        # an input that sits where an output will be written
        for target, outdir in itertools.product(FOLDER_OUTPUTS.get(cmd, [None]), ("out", "öut ✓ 出力")):

            def build(root: Path, cmd=cmd, target=target, outdir=outdir) -> list[str]:
                files = workspace(root)
                if target is None:
                    return _argv(cmd, str(files["a"]), str(files["b"]), str(files["a"]))
                dest = root / outdir / target
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(files["a"].read_bytes())
                return _argv(cmd, str(dest), str(files["b"]), str(root / outdir))

            cases.append(Case(f"{cmd}: input named like output {outdir}/{target}", build))
        for where, code in (("", (2,)), (".", (2,) if cmd in FILE_COMMANDS else (0, 2))):
            if where == "." and cmd in FOLDER_OUTPUTS:
                continue  # writing into the current folder is a valid request

            def build(root: Path, cmd=cmd, where=where) -> list[str]:
                files = workspace(root)
                return _argv(cmd, str(files["a"]), str(files["b"]), where)

            cases.append(Case(f"{cmd}: output {where!r}", build, code))
        # impossible output locations
        for label, where, code in (
            ("in /proc", "/proc/analogist-fuzz/" + out_name, (1,)),
            ("name too long", "x" * 300 + ("" if cmd in FOLDER_OUTPUTS else ".png"), (2,)),
            ("under a file", "notes.txt/" + out_name, (2,)),
        ):

            def build(root: Path, cmd=cmd, where=where) -> list[str]:
                files = workspace(root)
                out = where if where.startswith("/") else str(root / where)
                return _argv(cmd, str(files["a"]), str(files["b"]), out)

            cases.append(Case(f"{cmd}: output {label}", build, code))
        # out-of-range and malformed numbers
        for bad_arg in (
            ["--size", "0"],
            ["--size", "99999"],
            ["--size", "abc"],
            ["--size", "nan"],
            ["--size", "-3"],
            ["--size", "1e3"],
            ["--size", "32.5"],
            ["--size", ""],
            ["--size", "inf"],
        ):

            def build(root: Path, cmd=cmd, bad_arg=bad_arg, out_name=out_name) -> list[str]:
                files = workspace(root)
                return _argv(cmd, str(files["a"]), str(files["b"]), str(root / out_name))[:-2] + bad_arg

            cases.append(Case(f"{cmd}: {' '.join(bad_arg)}", build))
        if cmd not in ("stylize", "appearance"):  # appearance's --weights is read only by its vgg16 backbone
            for weights in ("text", "a", "missing.png", "a_folder.png", "bomb.png"):

                def build(root: Path, cmd=cmd, weights=weights, out_name=out_name) -> list[str]:
                    files = workspace(root)
                    return _argv(
                        cmd,
                        str(files["a"]),
                        str(files["b"]),
                        str(root / out_name),
                        "--weights",
                        str(files[weights] if weights in ("text", "a") else root / "bad" / weights),
                    )

                cases.append(Case(f"{cmd}: --weights {weights} file", build))
    options = {
        "morph": (
            ["--k", "0"],
            ["--gamma", "2"],
            ["--frames", "1"],
            ["--frames", "501"],
            ["--kind", "bad"],
            ["--search-size", "5"],
            ["--backbone", "nope"],
            ["--common-appearance", "x"],
            ["--fps", "0"],
        ),
        "buddies": (["--k", "0"], ["--k", "5000"], ["--gamma", "-1"], ["--gamma", "nan"], ["--search-size", "99999"]),
        "align": (["--kind", "bad"], ["--k", "2"]),
        "hybrid": (["--iters", "-1"], ["--iters", "1000"]),
        "analogy": (
            ["--weight-offset", "2"],
            ["--iters", "-1"],
            ["--mode", "x"],
            ["--match-backbone", "vgg99"],
            ["--backbone", "nope"],
        ),
        "timelapse": (["--transition", "99"], ["--fps", "0"], ["--fps", "nan"]),
        "features": (["--layer", "nope"], ["--backbone", "nope"]),
        "stylize": (
            ["--alpha", "3"],
            ["--steps", "-1"],
            ["--preset", "nope"],
            ["--content-guide", "x.png"],
            ["--seed", "-1"],
            ["--backbone", "vgg19"],
            ["--alpha", "nan"],
        ),
    }
    for cmd, extras in options.items():
        for extra in extras:

            def build(root: Path, cmd=cmd, extra=extra) -> list[str]:
                files = workspace(root)
                out = root / ("out" if cmd in FOLDER_OUTPUTS else "o.png")
                return _argv(cmd, str(files["a"]), str(files["b"]), str(out), *extra)

            cases.append(Case(f"{cmd}: {' '.join(extra)}", build))
    return cases


def odd_image_cases() -> list[Case]:
    """Every odd but valid image is accepted by ``features`` (the cheapest full pipeline)."""
    cases = []
    for name in ODD_NAMES:

        def build(root: Path, name=name) -> list[str]:
            made = {p.name: p for p in odd_valid_images(root / "odd")}
            return ["features", str(made[name]), "-o", str(root / "out 出力" / "f.png"), *SMALL]

        cases.append(Case(f"features accepts {name}", build, (0,)))
    return cases


ODD_NAMES = (
    "gray16.png",
    "cmyk.jpg",
    "palette_transparent.png",
    "la.png",
    "rgba.png",
    "bilevel.png",
    "gray.jpg",
    "interlaced.png",
    "float.tif",
    "int32.tif",
    "image.webp",
    "image.bmp",
    "animated.gif",
    "multipage.tif",
    "rotated.jpg",
    "tiny_1x1.png",
    "thin_1x300.png",
    "wide_300x2.png",
    "unicodé 画像.png",
)


# ------------------------------------------------------------------------------- links and datasets


def link_cases() -> list[Case]:
    """An output name that is a symbolic or hard link to an input kept elsewhere."""
    cases = []
    for cmd, names in FOLDER_OUTPUTS.items():
        for kind in ("symlink", "hardlink"):

            def build(root: Path, cmd=cmd, name=names[0], kind=kind) -> list[str]:
                files = workspace(root)
                dest = root / "out" / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                (os.symlink if kind == "symlink" else os.link)(files["a"], dest)
                return _argv(cmd, str(files["a"]), str(files["b"]), str(root / "out"))

            cases.append(Case(f"{cmd}: output {names[0]} is a {kind} to input A", build))
    for cmd in FILE_COMMANDS:

        def build(root: Path, cmd=cmd) -> list[str]:
            files = workspace(root)
            os.symlink(files["a"], root / "link.png")
            return _argv(cmd, str(files["a"]), str(files["b"]), str(root / "link.png"))

        cases.append(Case(f"{cmd}: output is a symlink to an input", build))
    return cases


def tss_folder(root: Path, corr: bytes | None = None, flip: bytes = b"0\n") -> Path:
    """A one-pair TSS folder with a known zero flow; ``corr`` and ``flip`` replace those files."""
    from analogist.io import write_flo

    pair = root / "tss" / "PASCAL" / "p1"
    pair.mkdir(parents=True, exist_ok=True)
    img = photo(32, 32)
    for i in (1, 2):
        Image.fromarray(img).save(pair / f"image{i}.png")
        Image.fromarray(np.full((32, 32), 255, np.uint8)).save(pair / f"mask{i}.png")
        write_flo(pair / f"flow{i}.flo", np.zeros((2, 32, 32), np.float32))
    (pair / "flip_gt.txt").write_bytes(flip)
    if corr is not None:
        (pair / "corr.txt").write_bytes(corr)
    return root / "tss"


def pairs_file(root: Path, rows: list[str]) -> Path:
    Image.fromarray(photo(32, 32)).save(root / "s.png")
    Image.fromarray(photo(32, 32, seed=2)).save(root / "t.png")
    (root / "bomb.png").write_bytes(png_header(100_000, 100_000))
    path = root / "pairs.csv"
    path.write_text("source_image,target_image,class,XA,YA,XB,YB\n" + "\n".join(rows) + "\n")
    return path


def eval_cases() -> list[Case]:
    """Broken dataset files and annotations for ``analogist eval``."""
    cases = []
    for label, corr, flip in (
        ("garbage corr.txt", b"x y z\n\x00\x01", b"0\n"),
        ("binary flip_gt.txt", None, bytes(range(256))),
        ("flip_gt.txt says 7", None, b"7\n"),
        ("corr.txt with 3 columns", b"0.1 0.2 0.3\n", b"0\n"),
    ):

        def build(root: Path, corr=corr, flip=flip) -> list[str]:
            workspace(root)
            return ["eval", "--dataset", "tss", str(tss_folder(root, corr, flip)), "--method", "nn", "--size", "32"]

        cases.append(Case(f"eval: TSS with {label}", build))
    good = "s.png,t.png,1,1;5;9,1;5;9,2;6;9,2;6;9"
    for label, rows, code in (
        ("an inf keypoint", ["s.png,t.png,1,1;inf,1;5,2;6,2;6"], (2,)),
        ("only nan keypoints", ["s.png,t.png,1,nan;nan,nan;nan,nan;nan,nan;nan"], (2,)),
        ("class 99", ["s.png,t.png,99,1;5,1;5,2;6,2;6"], (2,)),
        ("a bomb image among good rows", [good, "bomb.png,t.png,1,1,1,1,1"], (0,)),
        ("a row with words", ["s.png,t.png,1,a;b,1;5,2;6,2;6"], (2,)),
        ("unequal keypoint counts", ["s.png,t.png,1,1;5;7,1;5,2;6,2;6"], (2,)),
    ):

        def build(root: Path, rows=rows) -> list[str]:
            workspace(root)
            return ["eval", "--dataset", "pairs-csv", str(pairs_file(root, rows)), "--method", "nn", "--size", "32"]

        cases.append(Case(f"eval: pairs-csv with {label}", build, code))
    for label, where, code in (
        ("into /proc", "/proc/analogist-fuzz.json", (1,)),
        ("onto an input image", "s.png", (2,)),
        ("onto the pair list", "pairs.csv", (2,)),
    ):

        def build(root: Path, where=where) -> list[str]:
            workspace(root)
            csv_path = pairs_file(root, [good])
            out = where if where.startswith("/") else str(root / where)
            return ["eval", "--dataset", "pairs-csv", str(csv_path), "--method", "nn", "--size", "32", "--json", out]

        cases.append(Case(f"eval: --json {label}", build, code))
    return cases


def interrupt_cases() -> list[Case]:
    """Ctrl-C while outputs are being written: exit 130 and nothing left behind (real, small runs)."""
    from unittest import mock

    def ctrl_c_on(target: str, after: int) -> Callable[[], contextlib.AbstractContextManager]:
        def around() -> contextlib.AbstractContextManager:
            import analogist.io as aio

            real = getattr(aio, target)
            calls = []

            def fake(*args: object, **kwargs: object) -> object:
                calls.append(1)
                if len(calls) > after:
                    raise KeyboardInterrupt
                return real(*args, **kwargs)

            return mock.patch.object(aio, target, fake)

        return around

    def build(root: Path, cmd: str, extra: tuple[str, ...] = ()) -> list[str]:
        files = workspace(root)
        return [
            cmd,
            str(files["a"]),
            str(files["a"]),
            "-o",
            str(root / "out"),
            "--size",
            "48",
            "--search-size",
            "64",
            *extra,
        ]

    return [
        Case(
            "morph: Ctrl-C while the GIF is written",
            lambda r: build(r, "morph", ("--frames", "6")),
            (130,),
            ctrl_c_on("save_animation", 0),
        ),
        Case("buddies: Ctrl-C after two files", lambda r: build(r, "buddies"), (130,), ctrl_c_on("save_text", 1)),
    ]


def web_cases() -> list[Case]:
    """``analogist web`` refuses a bad work folder or a taken port before serving."""
    import socket

    def taken_port() -> contextlib.AbstractContextManager:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        web_cases.port = sock.getsockname()[1]  # type: ignore[attr-defined]
        return contextlib.closing(sock)

    def port_argv(root: Path) -> list[str]:
        return ["web", "--port", str(web_cases.port)]  # type: ignore[attr-defined]

    return [
        Case("web: --work-dir is a file", lambda r: ["web", "--work-dir", str(workspace(r)["text"])]),
        Case("web: --work-dir in /proc", lambda r: ["web", "--work-dir", "/proc/analogist-fuzz"], (1,)),
        Case("web: --port already taken", port_argv, (1,), taken_port),
        Case("web: --host not an address", lambda r: ["web", "--host", "999.1.1.1"]),
    ]


def all_cases() -> list[Case]:
    return (
        targeted_cases()
        + link_cases()
        + eval_cases()
        + odd_image_cases()
        + web_cases()
        + interrupt_cases()
        + replace_cases()
    )


# ------------------------------------------------------------------------ earlier outputs at -o


#: Each command's argv (after the two inputs) and the files an earlier run of it left at its output.
EARLIER_RUNS = {
    "features": (["--backbone", "efficientnet-lite0", "--layer", "stage2"], ["out.png"]),
    "stylize": (["--preset", "fast", "--steps", "2", "-q"], ["out.png"]),  # -q: its note on the preset
    "analogy": ([], [f"out/{n}" for n in FOLDER_OUTPUTS["analogy"]]),
    # a longer earlier morph: its frames beyond the new run's six must not survive a successful re-run
    "morph": (
        ["--frames", "6", "--search-size", "64"],
        [f"out/frames/frame_{i:03d}.png" for i in range(9)] + ["out/morph.gif", "out/morph.mp4"],
    ),
}


def _earlier_run(root: Path, cmd: str) -> list[str]:
    """A workspace with an earlier run's outputs (distinct bytes each) at the output path; the argv."""
    files = workspace(root)
    extra, earlier = EARLIER_RUNS[cmd]
    for i, rel in enumerate(earlier):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(f"earlier run, file {i}\n".encode())
    out = str(root / ("out.png" if cmd in FILE_COMMANDS else "out"))
    inputs = [str(files["a"])] if cmd == "features" else [str(files["a"]), str(files["b"])]
    return [cmd, *inputs, "-o", out, "--size", "48", *extra]


def _on_write(call: int, action: Callable[[], None]) -> Callable[[], contextlib.AbstractContextManager]:
    """Patch every writer of ``analogist.io`` so that ``action`` runs at the ``call``-th write."""
    from contextlib import ExitStack
    from unittest import mock

    def around() -> contextlib.AbstractContextManager:
        import analogist.io as aio

        calls = [0]
        stack = ExitStack()
        # a user's process starts with Python's own SIGINT handler; a library imported by an earlier
        # test in this process may have replaced it (seen in the full suite, not alone)
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        stack.callback(signal.signal, signal.SIGINT, previous)
        for name in ("save_image", "save_text", "save_animation", "write_flo"):
            real = getattr(aio, name)

            def fake(*args: object, _real=real, **kwargs: object) -> object:
                calls[0] += 1
                if calls[0] == call:
                    action()
                return _real(*args, **kwargs)

            stack.enter_context(mock.patch.object(aio, name, fake))
        return stack

    return around


def _disk_full() -> None:
    import errno

    raise OSError(errno.ENOSPC, "No space left on device")


def _signal(sig: int) -> Callable[[], None]:
    def send() -> None:
        os.kill(os.getpid(), sig)
        time.sleep(0.5)  # the handler raises here, at the next bytecode

    return send


def _two_writers(cmd: str) -> Case:
    """A second, complete run of the same command lands while the first is writing; the first is then
    interrupted. What remains must be the second run's output, whole."""
    state: dict[str, Any] = {}

    def second_then_ctrl_c() -> None:
        with contextlib.redirect_stderr(_io.StringIO()):
            state["code"] = main(list(state["argv"]))
        state["after"] = snapshot(state["root"])
        raise KeyboardInterrupt

    def build(root: Path) -> list[str]:
        state["root"], state["argv"] = root, _earlier_run(root, cmd)
        return list(state["argv"])

    def verify(root: Path) -> list[str]:
        if state.get("code") != 0:
            return [f"the second writer exited {state.get('code')}"]
        # the first writer was still staging when the second finished: its hidden folder must be gone now
        now = snapshot(root)
        after = {k: v for k, v in state["after"].items() if ".analogist-" not in k}
        changed = sorted(k for k in set(now) | set(after) if now.get(k) != after.get(k))
        return [f"the finished writer's output changed: {changed}"] if changed else []

    return Case(
        f"{cmd}: two writers, the finished one's output remains",
        build,
        (130,),
        _on_write(1, second_then_ctrl_c),
        verify,
    )


def _refused_over(name: str, argv: Callable[[dict[str, Path], Path], list[str]]) -> Callable[[Path], list[str]]:
    def build(root: Path) -> list[str]:
        files = workspace(root)
        (root / name).write_text("the user's notes\n")
        return argv(files, root / name)

    return build


def replace_cases() -> list[Case]:
    """An earlier file at the output path survives byte for byte a refused, failing or interrupted run
    (exit 2, 1, 130 on SIGINT, 143 on SIGTERM), and of two writers the finished one's output remains."""

    cases = [
        Case(
            "features: -o an existing notes.txt (refused extension)",
            _refused_over("notes.txt", lambda f, o: ["features", str(f["a"]), "-o", str(o), "--size", "32"]),
        ),
        Case(
            "stylize: -o an existing README (no extension)",
            _refused_over("README", lambda f, o: ["stylize", str(f["a"]), str(f["b"]), "-o", str(o), "--size", "32"]),
        ),
    ]
    for cmd in EARLIER_RUNS:

        def build(root: Path, cmd: str = cmd) -> list[str]:
            return _earlier_run(root, cmd)

        at = 1 if cmd in FILE_COMMANDS else 2  # in a set: after the first file has been written

        cases.append(
            Case(f"{cmd}: disk full while writing keeps the earlier output", build, (1,), _on_write(at, _disk_full))
        )
        for sig, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
            name = f"{cmd}: {signal.Signals(sig).name} while writing keeps the earlier output"
            cases.append(Case(name, build, (code,), _on_write(at, _signal(sig))))
        cases.append(_two_writers(cmd))
    return cases
