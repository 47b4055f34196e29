"""How one model of an engine is deployed: the model, its devices, its adapter."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple, Union

from ..backends.specs import DeviceSpec
from ..errors import InputError
from .model import ModelSource
from .runner import Adapter
from .segments import Segments

__all__ = ["Deploy", "as_deploy"]


@dataclass
class Deploy:
    """One model of a multi-model engine, pinned to its own devices."""

    model: Union[ModelSource, Segments]
    devices: DeviceSpec = "auto"
    adapter: Optional[Adapter] = None
    preprocess: Dict[str, Any] = field(default_factory=dict)  # fit, filter, mean, std, ...


def as_deploy(key: str, value: Union[Deploy, Tuple[Any, ...]]) -> Deploy:
    if isinstance(value, Deploy):
        return value
    if isinstance(value, tuple) and 1 <= len(value) <= 3:
        return Deploy(*value)
    raise InputError(f"model {key!r}: pass Deploy(model, devices, adapter) or (model, devices[, adapter])")
