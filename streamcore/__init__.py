"""streamcore: asyncio video inference on TensorFlow Lite, Edge TPUs and CPUs."""
