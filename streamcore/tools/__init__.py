"""Tools built on streamcore's public API and internals.

- ``cli``: ``python -m streamcore`` (classify, devices, run, bench).
- ``bench``: the ``bench`` command (plan, clip, runner, baseline, metrics, table, export,
  schema); ``streamcore.bench`` is an alias of it.
- ``synthetic``: synthetic TFLite models built in memory; ``streamcore.models`` is an alias
  of it.
"""
