"""One package per paper, each composing features, matching and synthesis behind a typed parameter set.

Every package has the same rooms: ``params.py`` (a frozen dataclass; ``form`` picks the variant where
there are several), ``core.py`` (the training-free method), ``learned.py`` and ``train.py`` where the
paper has a network, ``pictures.py`` where it draws any; its ``__init__`` exposes the public function.
A new paper goes into a new package of the same shape.
"""
