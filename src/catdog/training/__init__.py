"""The feature cache for the frozen phase, and the fit loops."""
