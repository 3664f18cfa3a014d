"""Plots and the run folder's human-readable summary."""
