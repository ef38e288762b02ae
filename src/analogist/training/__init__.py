"""The shared training framework: image folders, seeded augmentation, an exactly resumable loop with
checkpoints, the device choice and the lookup of trained weights.

Methods subclass :class:`TrainTask` beside their own module and run it with :func:`fit`; the
command line is ``analogist train <method>`` (:mod:`analogist.cli.train`).
"""

from .augment import inside, jitter, random_affine, random_tps, warp
from .checkpoint import checkpoint_env_var, find_checkpoint, load_checkpoint, resolve_checkpoint, save_checkpoint, slim
from .data import ImageFolder, image_files
from .device import DEVICES, resolve_device
from .loop import TrainConfig, TrainState, TrainTask, fit

__all__ = [
    "ImageFolder",
    "image_files",
    "TrainConfig",
    "TrainState",
    "TrainTask",
    "fit",
    "load_checkpoint",
    "save_checkpoint",
    "slim",
    "find_checkpoint",
    "resolve_checkpoint",
    "checkpoint_env_var",
    "resolve_device",
    "DEVICES",
    "jitter",
    "random_affine",
    "random_tps",
    "warp",
    "inside",
]
