"""The registry of what the web page and ``analogist batch`` can run: one :class:`Task` per method or application.

A task names its two inputs, its options (each a form control on the page and a column of a batch
csv, parsed from text the same way), the bundled example pair the page loads with one click, the
files it will write (declared before anything is written, as every command does) and a ``run``
function. Adding a method to both front ends is one :func:`register` call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import InputError
from ..progress import Progress


@dataclass(frozen=True)
class Option:
    """One form control: ``kind`` is ``int``, ``float``, ``choice`` or ``bool``."""

    name: str
    label: str
    kind: str
    default: Any
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()
    help: str = ""

    def parse(self, raw: str | None, column: bool = False) -> Any:
        """The form's text -> a checked value; a missing field gives the default. Errors call the value by
        its label, or by its name where it came from a csv ``column``."""
        who = self.name if column else self.label
        if raw is None or raw == "":
            return self.default
        if self.kind == "bool":
            return raw.lower() in ("1", "true", "on", "yes")
        if self.kind == "choice":
            if raw not in self.choices:
                raise InputError(f"{who} must be one of {', '.join(self.choices)}, got {raw[:40]!r}")
            return raw
        try:
            value = int(raw) if self.kind == "int" else float(raw)
        except ValueError:
            raise InputError(f"{who} must be a number, got {raw[:40]!r}") from None
        if value != value or (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi):
            raise InputError(f"{who} must be between {self.lo:g} and {self.hi:g}, got {value:g}")
        return value

    def public(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "kind": self.kind,
            "default": self.default,
            "lo": self.lo,
            "hi": self.hi,
            "choices": list(self.choices),
            "help": self.help,
        }


#: ``run(a, b, options, out, progress) -> None``: ``a``/``b`` are ``(1, 3, H, W)`` CPU images already
#: resized to the job's size, ``out`` is the job's open :class:`analogist.outputs.OutputPlan`. The web
#: app and the batch workers add ``options["device"]`` (see :func:`device_of`): the method computes
#: there, the outputs are written from CPU copies.
Runner = Callable[[torch.Tensor, torch.Tensor, dict[str, Any], Any, Progress], None]


def device_of(options: dict[str, Any]) -> torch.device:
    """The device a task's method runs on: ``options["device"]``, the CPU when absent."""
    return torch.device(options.get("device") or "cpu")


@dataclass(frozen=True)
class Task:
    """A method as the page shows it and a batch runs it.

    Attributes:
        name: the key in URLs and the API.
        title, description: shown on the page.
        inputs: labels of the two images.
        examples: bundled example names loaded by "try the example".
        outputs: ``options -> [(file name, role)]`` where role is ``main`` (shown large; an image or a
            GIF), ``image``, ``video`` or ``file`` (download only). Every file the run writes is listed.
        run: see :data:`Runner`.
        stages: ``options -> weights`` of the top-level progress stages the run goes through (a weight, or
            one per step of a loop whose steps differ in cost), in
            order, so the page shows one overall bar; a run with more stages clamps at 99 %.
        compare: the output shown in a before/after slider over input A, if any.
        advice: what the two images must have in common for a good result, said where they are chosen.
        estimates: whether ``stages`` predicts the run's time well enough for the page to show the time
            left (False where the stages' relative costs change with size and load beyond a factor 2:
            the page then shows the stage and the fraction only).
        size: default, smallest and largest longer side in pixels.
    """

    name: str
    title: str
    description: str
    inputs: tuple[str, str]
    examples: tuple[str, str]
    outputs: Callable[[dict[str, Any]], list[tuple[str, str]]]
    run: Runner
    stages: Callable[[int, dict[str, Any]], list[float | list[float]]] = lambda size, opts: [1.0]
    options: tuple[Option, ...] = ()
    compare: str | None = None
    advice: str = ""
    estimates: bool = True
    size: tuple[int, int, int] = (160, 64, 512)
    min_side: int = 16
    extra: dict[str, Any] = field(default_factory=dict)

    def parse(
        self, form: Mapping[str, str], size_range: tuple[int, int] | None = None, columns: bool = False
    ) -> tuple[int, dict[str, Any]]:
        """The job's size and options from text fields (a form, a csv row); ``size_range`` overrides the
        page's limits (a batch may run larger); ``columns``: errors name the csv column, not the label."""
        default, lo, hi = self.size
        if size_range is not None:
            lo, hi = size_range
        size = Option("size", "size", "int", default, lo, hi).parse(form.get("size"))
        return size, {o.name: o.parse(form.get(o.name), columns) for o in self.options}

    def load_inputs(self, path_a: Path, path_b: Path, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Both images at ``size`` (longer side), refused in one sentence if a side ends up too short."""
        from ..io import load_image

        images = load_image(path_a, size), load_image(path_b, size)
        for label, im in zip(self.inputs, images):
            if min(im.shape[-2:]) < self.min_side:
                raise InputError(
                    f"{label} is {im.shape[-1]}x{im.shape[-2]} pixels at size {size}: "
                    f"{self.min_side} are needed on each side (use a less elongated image)"
                )
        return images

    def public(self) -> dict[str, Any]:
        default, lo, hi = self.size
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "inputs": list(self.inputs),
            "examples": list(self.examples),
            "options": [o.public() for o in self.options],
            "size": {"default": default, "min": lo, "max": hi},
            "compare": self.compare,
            "advice": self.advice,
        }


TASKS: dict[str, Task] = {}


def register(view: Task) -> Task:
    """Add ``view`` to the page and the batch runner (names are unique)."""
    if view.name in TASKS:
        raise ValueError(f"a task named {view.name!r} exists already")
    TASKS[view.name] = view
    return view


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise InputError(f"unknown method {name[:40]!r}: choose one of {', '.join(TASKS)}")
    return TASKS[name]


def output_names(view: Task, options: dict[str, Any]) -> list[str]:
    return [name for name, _ in view.outputs(options)]


def example_files(view: Task) -> tuple[Path, Path]:
    from ..data import example_path

    return example_path(view.examples[0]), example_path(view.examples[1])


__all__ = ["Option", "Task", "TASKS", "register", "get_task", "output_names", "example_files"]
