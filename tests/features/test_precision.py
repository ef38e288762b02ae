"""The measured choice of precision and layout per kind of operation (:mod:`analogist.features.precision`).

Timings are injected (a fake ``measure``), so these tests check the decisions, never the clock.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from analogist.errors import InputError
from analogist.features import get_backbone, precision
from analogist.features.hypercolumn import extractor_for
from analogist.features.kernel_bench import CANDIDATES, measure_rates
from analogist.features.precision import KernelChoice, cache_dir, machine_key, product_dtype
from analogist.methods.nnst import PRESETS

#: A CPU where bfloat16 and int8 are fast and channels-last helps (GMAC/s per candidate).
FAST_BF16 = {
    "conv": {"fp32": 20.0, "fp32-cl": 30.0, "bf16-cl": 80.0},
    "product": {"fp32": 40.0, "bf16": 90.0, "int8": 150.0},
}
#: An AVX2-only CPU: bfloat16 and int8 run reference kernels.
AVX2 = {"conv": {"fp32": 40.0, "fp32-cl": 45.0, "bf16-cl": 0.5}, "product": {"fp32": 40.0, "bf16": 0.2, "int8": 0.4}}


def fake(
    table: dict[str, dict[str, float]], calls: list[str] | None = None
) -> Callable[[str, torch.device], dict[str, float]]:
    """A ``measure`` returning ``table``'s rates (``conv-train`` as ``conv``), recording each call."""

    def measure(kind: str, device: torch.device) -> dict[str, float]:
        if calls is not None:
            calls.append(kind)
        return dict(table["conv" if kind.startswith("conv") else kind])

    return measure


def idle() -> bool:
    return False


def test_fastest_candidate_wins_only_by_the_margin(tmp_path: Path) -> None:
    choice = KernelChoice(tmp_path / "k.json", busy=idle, measure=fake(FAST_BF16))
    assert choice.choose("conv").name == "bf16-cl"
    assert choice.choose("product").name == "int8"
    assert choice.choose("product", allowed=("fp32", "bf16")).name == "bf16"  # values wanted: no int8
    slow = KernelChoice(tmp_path / "s.json", busy=idle, measure=fake(AVX2))
    assert slow.choose("conv").name == "fp32"  # channels-last 12 % faster: inside the margin
    assert slow.choose("product").name == "fp32"
    path = slow.choose("product")
    assert path.dtype == torch.float32 and not path.channels_last and "measured" in path.reason


def test_a_candidate_made_slow_loses() -> None:
    table = {k: dict(v) for k, v in FAST_BF16.items()}
    table["product"]["int8"] = 0.4  # the reference int8 kernel of a CPU without VNNI
    table["conv"]["bf16-cl"] = 1.0
    choice = KernelChoice(None, fake(table))
    assert choice.choose("product").name == "bf16"
    assert choice.choose("conv").name == "fp32-cl"
    assert choice.choose("conv").channels_last and choice.choose("conv").dtype == torch.float32


def test_rates_are_cached_on_disk_and_reused(tmp_path: Path) -> None:
    calls: list[str] = []
    file = tmp_path / "kernels.json"
    KernelChoice(file, busy=idle, measure=fake(FAST_BF16, calls)).choose("product")
    again = KernelChoice(file, busy=idle, measure=fake(AVX2, calls))  # a new process: reads the file, measures nothing
    assert again.choose("product").name == "int8" and calls == ["product"]
    again.choose("conv")
    assert calls == ["product", "conv"]  # each kind measured the first time it is needed
    entry = next(iter(json.loads(file.read_text()).values()))
    assert entry["key"] == machine_key() and set(entry["rates"]) == {"product", "conv"}


def test_cache_is_invalidated_when_its_key_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    file = tmp_path / "kernels.json"
    choice = KernelChoice(file, busy=idle, measure=fake(FAST_BF16, calls))
    choice.choose("product")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # what oneDNN may use changed: measured again
    assert KernelChoice(file, busy=idle, measure=fake(AVX2, calls)).choose("product").name == "fp32"
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(threads + 1)  # another thread count
        choice.choose("product")
    finally:
        torch.set_num_threads(threads)
    assert calls == ["product"] * 3
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    KernelChoice(file, busy=idle, measure=fake(AVX2, calls)).choose("product")  # the first key again: from the file
    assert len(calls) == 3 and len(json.loads(file.read_text())) == 3


def test_rates_measured_on_a_busy_machine_are_not_cached(tmp_path: Path) -> None:
    calls: list[str] = []
    file = tmp_path / "kernels.json"
    busy = KernelChoice(file, busy=lambda: True, measure=fake(FAST_BF16, calls))
    assert busy.choose("product").name == "int8" and busy.choose("product").name == "int8"
    assert calls == ["product"] and not file.exists()  # kept for the process, not written
    KernelChoice(file, busy=idle, measure=fake(FAST_BF16, calls)).choose("product")
    assert calls == ["product", "product"] and file.is_file()  # a quieter run measures and writes


def test_unreadable_cache_is_measured_again(tmp_path: Path) -> None:
    file = tmp_path / "kernels.json"
    file.write_text("{not json")
    calls: list[str] = []
    assert KernelChoice(file, busy=idle, measure=fake(FAST_BF16, calls)).choose("conv").name == "bf16-cl"
    assert calls == ["conv"] and json.loads(file.read_text())


def test_forced_precision_is_obeyed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    choice = KernelChoice(None, fake(FAST_BF16))
    assert choice.choose("conv", "fp32").name == "fp32-cl"  # the dtype forced; the layout still measured
    assert choice.choose("product", "fp32").name == "fp32"
    assert choice.choose("product", "bf16").name == "bf16"
    assert choice.choose("conv", "int8").name == "fp32-cl"  # no int8 network: float32 there
    slow = KernelChoice(None, fake(AVX2))
    assert slow.choose("product", "int8").name == "int8"  # forced even where slow
    monkeypatch.setenv("ANALOGIST_PRECISION", "bf16")
    path = slow.choose("product")
    assert path.name == "bf16" and "ANALOGIST_PRECISION" in path.reason
    assert slow.choose("product", "fp32").name == "fp32"  # an explicit parameter beats the variable
    monkeypatch.setenv("ANALOGIST_PRECISION", "fp16")
    with pytest.raises(InputError, match="ANALOGIST_PRECISION must be one of"):
        slow.choose("product")
    with pytest.raises(InputError, match="precision must be one of"):
        slow.choose("product", "int4")


def test_cuda_follows_the_capability_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    choice = KernelChoice(None, fake(AVX2, calls := []))
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0))
    assert choice.choose("conv", device="cuda").name == "bf16-cl"
    assert choice.choose("product", device="cuda", allowed=("fp32", "bf16")).name == "bf16"
    assert choice.choose("product", "fp32", device="cuda").name == "fp32"
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))
    assert choice.choose("conv", device="cuda").name == "fp32"
    assert choice.choose("conv", "bf16", device="cuda").name == "bf16-cl"
    assert calls == []  # nothing measured for CUDA


def test_cache_folder_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ANALOGIST_CACHE_DIR", str(tmp_path / "a"))
    assert cache_dir() == tmp_path / "a"
    monkeypatch.delenv("ANALOGIST_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "analogist"


def test_suite_never_writes_the_user_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    assert cache_dir().is_relative_to(tmp_path_factory.getbasetemp())  # conftest points it there


def test_measured_rates_cover_every_candidate() -> None:
    rates = measure_rates("product", torch.device("cpu"))
    assert set(rates) == set(CANDIDATES["product"]) and all(r >= 0 for r in rates.values())
    assert rates["fp32"] > 0


def test_methods_take_the_chosen_path() -> None:
    precision.reset(
        KernelChoice(None, fake({"conv": {"fp32": 20.0, "fp32-cl": 30.0, "bf16-cl": 21.0}, "product": AVX2["product"]}))
    )
    try:
        ex = extractor_for(get_backbone("vgg16-hed"), "auto", "conv")
        assert ex.channels_last and not ex.bf16
        assert product_dtype("auto", "cpu") == torch.float32
        assert extractor_for(get_backbone("vgg16-hed"), "bf16", "conv-train").bf16
    finally:
        precision.reset()
    assert PRESETS["decoder"].precision == "auto"  # no preset names a dtype only some CPUs run fast
    assert all(p.precision == "auto" for p in PRESETS.values())


#: A CPU where bfloat16 is fastest everywhere (int8 slow), and one where the int8 product is.
BF16_EVERYWHERE = {"conv": FAST_BF16["conv"], "product": {"fp32": 40.0, "bf16": 90.0, "int8": 0.4}}


@pytest.mark.parametrize("table", [BF16_EVERYWHERE, FAST_BF16], ids=["bf16", "int8-products"])
def test_auto_paths_stay_within_the_methods_tolerance(table: dict[str, dict[str, float]]) -> None:
    from dataclasses import replace

    from analogist.data import example_path
    from analogist.io import load_image
    from analogist.methods.coat import COATParams, coat
    from analogist.methods.nnst import StylizeParams, preset, stylize

    content, style = load_image(example_path("astronaut.jpg"), 48), load_image(example_path("swirls.jpg"), 48)
    tiny = StylizeParams(scales=2, steps=10, split_steps=3, rotations=False, color=False, precision="fp32")
    coat_params = COATParams(scales=2, steps=8, precision="fp32")
    cat, painting = load_image(example_path("cat.jpg"), 48), load_image(example_path("cat_painting.jpg"), 48)
    exact = [
        stylize(content, style, preset("decoder", precision="fp32", scales=2)),
        stylize(content, style, tiny),
        coat(cat, painting, coat_params).image,
    ]
    precision.reset(KernelChoice(None, fake(table)))
    try:
        auto = [
            stylize(content, style, preset("decoder", scales=2)),
            stylize(content, style, replace(tiny, precision="auto")),
            coat(cat, painting, replace(coat_params, precision="auto")).image,
        ]
    finally:
        precision.reset()
    # NNST-D: the int8 test's tolerance; NNST-Opt and COAT (optimisations, bf16 seen at 0.012): 0.03
    for a, b, tol in zip(exact, auto, (0.02, 0.03, 0.03)):
        assert a.shape == b.shape and (a - b).abs().mean() < tol


def test_info_prints_the_rates_and_paths(capsys: pytest.CaptureFixture[str]) -> None:
    from analogist.cli import main

    precision.reset(KernelChoice(None, fake(FAST_BF16)))
    try:
        assert main(["info"]) == 0
    finally:
        precision.reset()
    out = capsys.readouterr().out
    assert "product     fp32 40.0  bf16 90.0  int8 150.0  -> int8" in out
    assert "conv        fp32 20.0  fp32-cl 30.0  bf16-cl 80.0  -> bf16-cl" in out


def test_the_path_taken_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("DEBUG", logger="analogist"):
        KernelChoice(None, fake(AVX2)).choose("product")
    assert "kernels: product runs fp32 (precision=auto; measured GMAC/s: fp32 40.0, bf16 0.2, int8 0.4)" in caplog.text
