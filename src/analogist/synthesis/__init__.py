"""Making pixels and features from correspondences: warping, feature inversion, filtering, colour."""
