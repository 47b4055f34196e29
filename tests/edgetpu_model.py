"""Tiny models whose graph is input -> edgetpu-custom-op -> outputs, for the simulator tests.
The builder lives in streamcore.tools.synthetic (the bench uses it too)."""

from streamcore.tools.synthetic.edgetpu import edgetpu_model

__all__ = ["edgetpu_model"]
