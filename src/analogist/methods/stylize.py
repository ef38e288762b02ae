"""The name NNST had before its package (:mod:`analogist.methods.nnst`), kept for code written against it."""

from __future__ import annotations

from .nnst import PRESETS, StylizeParams, preset, stylize

__all__ = ["PRESETS", "StylizeParams", "preset", "stylize"]
