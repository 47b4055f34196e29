"""The device backends an engine runs on: one module each, registered here.

- ``base``: the ``Backend`` protocol, ``Placement`` and ``BuiltDevice``.
- ``registry``: the registered backends, the preferred CPU backend, spec parsing.
- ``specs``: ``DeviceRequest`` and the Edge TPU spec grammar.
- ``pool``: opens the devices an engine asks for, once each, through their backends.
- ``tflite``: tflite_runtime's C++ interpreter, XNNPACK on the CPU.
- ``edgetpu``: Coral Edge TPUs and the simulator (``sim``), through libedgetpu and tflite.
- ``litert``: ai-edge-litert's C API, XNNPACK on the CPU.
- ``openvino``: OpenVINO's C API: CPU, GPU, NPU, AUTO.

A new backend is a module with a ``BACKEND`` object and one line below.
"""

from . import edgetpu, litert, openvino, tflite
from .registry import register

register(tflite.BACKEND)
register(edgetpu.BACKEND)
register(litert.BACKEND)
register(openvino.BACKEND)
