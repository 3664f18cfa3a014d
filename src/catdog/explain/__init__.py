"""Grad-CAM explanations."""
