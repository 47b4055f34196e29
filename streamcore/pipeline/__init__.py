"""Many video streams through one engine.

- ``pipeline``: ``Pipeline``, which owns the engine, the streams and the stats.
- ``stream``: one source's frames in flight and its results in frame order; a stream
  reports to the ``ResultHub`` and the callbacks it is given, never to the pipeline.
- ``hub``: ``ResultHub``, the pipeline-wide readers that streams deliver to.
- ``window``: the backpressure window shared by a source thread and the event loop.
- ``records``: ``StreamResult``, what a pipeline yields per stream.
- ``stats``: rates, percentiles and the event-loop lag monitor.
- ``loop``: ``streamcore.run``, asyncio.run on uvloop when it is installed.

The public names are re-exported by ``streamcore``; this ``__init__`` imports nothing.
"""
