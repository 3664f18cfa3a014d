"""The backbone (weights resolution), the head, and the assembled classifier model."""
