"""The top-level API: lazy, complete, and its docstring examples run (doctest) on tiny images."""

from __future__ import annotations

import doctest
import importlib
import subprocess
import sys

import pytest

import analogist

#: modules whose docstrings carry examples; the rest of the suite does not run doctests
DOCTEST_MODULES = ("analogist", "analogist.features")


def test_import_is_light():
    code = "import sys, analogist; print(sorted(m for m in ('torch', 'numpy', 'cv2', 'PIL') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_every_public_name_resolves_to_its_module_object():
    from analogist.methods.analogy import deep_image_analogy
    from analogist.methods.nnst import preset

    assert analogist.deep_image_analogy is deep_image_analogy and analogist.preset is preset
    for name in analogist.__all__:
        module = importlib.import_module(analogist._EXPORTS[name], "analogist")
        assert getattr(module, name) is getattr(analogist, name), name
    assert set(analogist.__all__) == set(analogist._EXPORTS)
    assert set(analogist.__all__) <= set(dir(analogist))
    for name in ("sam_net", "SAMNetParams", "coat", "COATParams", "stylize_video", "VideoParams"):
        assert name in analogist.__all__


def test_unknown_names_are_attribute_errors():
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        analogist.nothing_here  # noqa: B018
    assert not hasattr(analogist, "_private")


@pytest.mark.slow
@pytest.mark.parametrize("name", DOCTEST_MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
