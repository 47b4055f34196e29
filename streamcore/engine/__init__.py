"""The engine room: one or more models on their devices, frames in, results out.

- ``engine``: ``Engine`` and ``Deploy``, the asyncio face of the native scheduler.
- ``runner``: one model of an engine on its devices (submits frames, resolves futures).
- ``health``: the failover monitor, which sees a runner only as ``DeviceSlots``.
- ``model``: a verified TFLite model and its tensor descriptions.
- ``frames``: PyAV frames and numpy images as zero-copy native frame views.

This ``__init__`` deliberately imports nothing: the backends build devices from
``engine.model``, and importing it must not pull in ``engine.engine``, which imports the
backends (that would be an import cycle). The public names are re-exported by ``streamcore``.
"""
