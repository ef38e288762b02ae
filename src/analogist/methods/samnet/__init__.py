"""Semantic Attribute Matching Networks (Kim, Min, Jeong, Kim, Jeon, Sohn; CVPR 2019).

:mod:`.core` holds the recurrent loop of matching and attribute transfer, :mod:`.params` its
parameters; the loop starts from :mod:`.start` and ends with the finer step of :mod:`.refine`. The
``"learned"`` form's networks live in :mod:`.learned` (G) and :mod:`.transfer` (the attribute
decoder of Eq. 10); :mod:`.train` and :mod:`.weak` train them. The stylised image returned is drawn
by NNST's synthesis along the field (:mod:`.render`).
"""

from __future__ import annotations

from .core import SAMNetIteration, SAMNetResult, resolve_form, sam_net, transfer_mask
from .params import DEFAULT_LAYERS, FORMS, INITS, RENDERS, TRANSFERS, SAMNetParams, default_layer

__all__ = [
    "DEFAULT_LAYERS",
    "FORMS",
    "INITS",
    "RENDERS",
    "TRANSFERS",
    "SAMNetIteration",
    "SAMNetParams",
    "SAMNetResult",
    "default_layer",
    "resolve_form",
    "sam_net",
    "transfer_mask",
]
