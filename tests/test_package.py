"""The installable product: what `python -m build` makes, installed and run without the checkout.

The sdist is built from a copy of the checkout and the wheel from the unpacked sdist (the order `python -m
build` uses, so a file the sdist forgets is missing from the wheel too), with the setuptools of this
environment (the `test` extra installs it), so no network is needed. The wheel is then installed into a
folder of its own and real commands run from there: a data file missing from `package-data` fails here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "analogist"
SKIP = shutil.ignore_patterns("__pycache__", "*.py[co]", "*.egg-info", "build", "dist", ".pytest_cache")

pytestmark = pytest.mark.slow


def _files(folder: Path, base: Path) -> set[str]:
    """Every file under ``folder`` as a ``/`` path relative to ``base`` (compiled files left out)."""
    return {
        p.relative_to(base).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo")
    }


def _run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{argv[:4]} exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


def _backend(hook: str, tree: Path, out: Path) -> None:
    # the PEP 517 hooks that `pip wheel --no-build-isolation` and `python -m build --no-isolation` call
    _run([sys.executable, "-c", f"from setuptools import build_meta as b; b.{hook}({str(out)!r})"], tree)


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> tuple[Path, Path]:
    """(sdist, wheel) built from a copy of the checkout."""
    work = tmp_path_factory.mktemp("package")
    tree = work / "tree"
    tree.mkdir()
    for name in ("pyproject.toml", "README.md", "MANIFEST.in"):
        shutil.copy2(ROOT / name, tree / name)
    for name in ("src", "tests"):
        shutil.copytree(ROOT / name, tree / name, ignore=SKIP)
    dist = work / "dist"
    _backend("build_sdist", tree, dist)
    sdist = next(dist.glob("*.tar.gz"))
    with tarfile.open(sdist) as tar:
        tar.extractall(work / "unpacked", **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    _backend("build_wheel", next((work / "unpacked").iterdir()), dist)
    return sdist, next(dist.glob("*.whl"))


@pytest.fixture(scope="module")
def site(dists, tmp_path_factory) -> Path:
    """A folder holding only the installed wheel (its dependencies come from this environment)."""
    target = tmp_path_factory.mktemp("site")
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--disable-pip-version-check"]
    _run([*pip, "--target", str(target), str(dists[1])], target)
    return target


def test_wheel_holds_every_file_of_the_package(dists):
    with zipfile.ZipFile(dists[1]) as whl:
        names = set(whl.namelist())
        entry_points = next(whl.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
    missing = _files(PACKAGE, PACKAGE.parent) - names
    assert not missing, f"not in the wheel (add them to package-data in pyproject.toml): {sorted(missing)}"
    assert "analogist = analogist.cli:main" in entry_points
    assert not [n for n in names if n.startswith("tests/")], "the tests belong in the sdist only"


def test_sdist_holds_readme_pyproject_tests_and_sources(dists):
    with tarfile.open(dists[0]) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    wanted = {"README.md", "pyproject.toml", "MANIFEST.in"}
    wanted |= _files(ROOT / "tests", ROOT) | _files(PACKAGE, ROOT)
    assert not wanted - names, f"not in the sdist: {sorted(wanted - names)}"
    assert "src/analogist/data/examples/cat.jpg" in names and "tests/conftest.py" in names


# Runs inside the installed copy; argv[1] is its folder. One process: torch is imported once.
INSTALLED_CHECKS = r"""
import sys
from pathlib import Path

site, out = Path(sys.argv[1]).resolve(), Path(sys.argv[2])
import analogist
from analogist.cli import main
from analogist.data import EXAMPLES, example_path
from analogist.methods.coat import learned as coat_learned
from analogist.methods.nnst import learned as nnst_decoder
from analogist.methods.samnet import learned as samnet_learned
from analogist.training.checkpoint import load_checkpoint, resolve_checkpoint

assert Path(analogist.__file__).resolve().is_relative_to(site), analogist.__file__
for name in EXAMPLES:
    assert example_path(name).resolve().is_relative_to(site) and example_path(name).stat().st_size > 1000, name
for task, filename in (("coat", coat_learned.CHECKPOINT), ("samnet", samnet_learned.CHECKPOINT),
                       (nnst_decoder.KIND, nnst_decoder.FILENAME)):
    path = resolve_checkpoint(task, filename)
    assert path.resolve().is_relative_to(site), path
    assert path.with_suffix(".md").is_file(), f"no note beside {path.name}"
    assert load_checkpoint(path)["models"], path
try:
    import flask  # noqa: F401  (the web extra)
except ImportError:
    print("web app: skipped, flask is not installed")
else:
    from analogist.web import create_app

    client = create_app(out / "web-work").test_client()
    page = client.get("/")
    assert page.status_code == 200 and b"<html" in page.data.lower(), page.status_code
    assert client.get("/static/app.js").status_code == 200 and client.get("/static/app.css").status_code == 200
    print("web app: template and static files served")
cat, painting, swirls = (str(example_path(n)) for n in ("cat.jpg", "cat_painting.jpg", "swirls.jpg"))
runs = {
    "analogy": ["analogy", cat, painting, "-o", str(out / "analogy"), "--size", "48", "--iters", "2"],
    "fast": ["stylize", cat, swirls, "-o", str(out / "fast.png"), "--size", "48", "--preset", "fast", "--steps", "2"],
    "decoder": ["stylize", cat, swirls, "-o", str(out / "decoder.png"), "--size", "48", "--preset", "decoder"],
}
for label, argv in runs.items():
    code = main(argv)
    assert code == 0, (label, code)
print("commands ran")
"""


def test_installed_wheel_runs_without_the_checkout(site, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANALOGIST_")}  # no redirected lookups
    env["PYTHONPATH"] = str(site)
    done = _run([str(site / "bin" / "analogist"), "info"], tmp_path, env)  # the installed entry point
    assert done.stdout.startswith("analogist ") and "vgg16-hed" in done.stdout, done.stdout
    done = _run([sys.executable, "-c", INSTALLED_CHECKS, str(site), str(tmp_path)], tmp_path, env)
    assert "commands ran" in done.stdout, done.stdout
    assert "no NNST-D decoder checkpoint found" not in done.stderr, done.stderr  # the bundled one was used
    assert sorted(p.name for p in (tmp_path / "analogy").iterdir())[:2] == ["a_prime.png", "b.png"]
    assert (tmp_path / "fast.png").stat().st_size > 0 and (tmp_path / "decoder.png").stat().st_size > 0
