"""`python -m streamcore bench`: CPU, Edge TPUs and the hand-written baseline measured side
by side in one run (latency, throughput, decode-to-result pipeline)."""

from __future__ import annotations

from .export import CSV_COLUMNS, to_csv, to_json, write_plot
from .schema import SCHEMA, SCHEMA_ID
from .session import BenchOptions, run_bench
from .table import render

__all__ = ["BenchOptions", "run_bench", "render", "to_json", "to_csv", "write_plot", "SCHEMA", "SCHEMA_ID",
           "CSV_COLUMNS"]
