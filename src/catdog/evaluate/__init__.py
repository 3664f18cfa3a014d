"""Metrics over predicted probabilities."""
