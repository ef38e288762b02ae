"""One module per paper, each composing features, matching and synthesis behind a typed parameter set."""
