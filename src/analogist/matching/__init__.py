"""Correspondences: dense nearest-neighbour fields and flows, sparse best-buddy pairs, sparse-to-dense."""
