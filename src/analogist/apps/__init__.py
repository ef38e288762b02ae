"""Applications built from the methods: alignment, hybrids, morphing, time-lapse."""
