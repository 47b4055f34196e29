"""The device backends an engine runs on.

- ``specs``: device specs (``"cpu:2"``, ``"usb:0"``, ``"sim:4@2.6ms"``, ...) parsed into
  ``DeviceRequest``s.
- ``pool``: opens the devices an engine asks for, once each, and places interpreters on them.
- ``tflite``: TFLite interpreters bound to one CPU thread or one accelerator.
- ``edgetpu``: libedgetpu loaded at run time: enumeration, opening, options.
- ``sim``: where streamcore's simulated libedgetpu lives (never presented as hardware).

The public names are re-exported by ``streamcore``; this ``__init__`` imports nothing.
"""
