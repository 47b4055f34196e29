"""Strict JSON: every JSON text streamcore writes goes through `dumps`.

Python's json writes NaN, Infinity and -Infinity by default, which are not JSON: `jq`,
`JSON.parse` and most parsers reject them. `clean` turns non-finite floats (Python and numpy)
into None (null) and numpy scalars and arrays into Python values; `dumps` then serialises with
``allow_nan=False``, so anything non-finite that slipped through raises instead of writing
invalid JSON.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["clean", "dumps"]


def clean(value: Any) -> Any:
    """`value` with every NaN/Infinity float replaced by None, tuples as lists, dict keys as
    str, and numpy scalars and arrays as Python values."""
    if isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k if isinstance(k, str) else str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalar or array
        return clean(value.tolist())
    return value


def dumps(value: Any, **kwargs: Any) -> str:
    """Strict JSON text of `value` (see `clean`); raises ValueError rather than write NaN."""
    kwargs.pop("allow_nan", None)
    return json.dumps(clean(value), allow_nan=False, **kwargs)
