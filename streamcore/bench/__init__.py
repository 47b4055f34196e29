"""`python -m streamcore bench`: an alias of ``streamcore.tools.bench``, kept because
``streamcore.bench.SCHEMA`` (the bench --json schema) is documented public."""

from __future__ import annotations

from ..tools.bench import (
    CSV_COLUMNS,
    SCHEMA,
    SCHEMA_ID,
    BenchOptions,
    render,
    run_bench,
    to_csv,
    to_json,
    write_plot,
)

__all__ = ["BenchOptions", "run_bench", "render", "to_json", "to_csv", "write_plot", "SCHEMA", "SCHEMA_ID",
           "CSV_COLUMNS"]
