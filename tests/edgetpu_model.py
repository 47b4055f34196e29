"""Tiny models whose graph is input -> edgetpu-custom-op -> outputs, for the simulator tests.
The builder lives in streamcore.models (the bench uses it too)."""

from streamcore.models.edgetpu import edgetpu_model

__all__ = ["edgetpu_model"]
