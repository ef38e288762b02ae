"""analogist: semantic correspondence and visual attribute transfer between images.

The package is layered: :mod:`analogist.features` (backbones and feature pyramids),
:mod:`analogist.matching` (dense and sparse correspondences), :mod:`analogist.synthesis` (warping,
feature inversion, colour), :mod:`analogist.methods` (one module per paper), :mod:`analogist.apps`
(applications built from methods), :mod:`analogist.eval` (benchmarks) and the front end
:mod:`analogist.cli`. Images are float32 tensors ``(1, 3, H, W)`` in [0, 1].
"""

__version__ = "0.1.0"
