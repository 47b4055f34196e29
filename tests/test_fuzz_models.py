"""Property: a mutated .tflite flatbuffer given to ``streamcore.Model(bytes)`` and to an Engine on
``cpu:1`` (and, for Edge TPU models, on the simulated ``sim:1``) either works or raises
ModelError / a StreamcoreError; never another exception type, never a crash.

The seeds are streamcore's synthetic models and, when present, the real models in the shared
test data. Mutations: byte flips, truncations and int32 overwrites (-1, 0, huge, ...) at
4-byte-aligned offsets, mostly in the first 32 KB where the flatbuffer's tables (and so the
offsets, vectors and tensor shapes) live. Cases run in child processes (tests/fuzz_harness.py).
"""

from __future__ import annotations

import asyncio
import json
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import pytest

from hypothesis import strategies as st

from tests.conftest import data_dir
from tests.fuzz_harness import Case, Outcome, run_cases
from tests.test_fuzz_frames import _assert_clean, draw_cases

MODEL_CASES = 1500
HEAD = 32 << 10
TAIL = 4 << 10


def _synthetic() -> Dict[str, Callable[[], bytes]]:
    from streamcore import models

    return {
        "tiny_uint8": lambda: models.tiny_classifier((32, 32, 3), 10),
        "tiny_float32": lambda: models.tiny_classifier((16, 16, 3), 4, dtype="float32"),
        "tiny_int8": lambda: models.tiny_classifier((16, 24, 1), 3, dtype="int8"),
        "detector": lambda: models.tiny_detector(),
        "non_image": models.non_image_model,
        "edgetpu_sim": lambda: models.edgetpu_classifier(16, 5),
    }


# Real models: small ones only (a case builds an interpreter; the big ones cost ~10x more).
SHARED = {
    "shared_mobilenet_v1_025": "mobilenet_v1_0.25_128_quant.tflite",
    "shared_mobilenet_v1_025_edgetpu": "mobilenet_v1_0.25_128_quant_edgetpu.tflite",
    "shared_ssd_v1": "ssd_mobilenet_v1_coco_quant_postprocess.tflite",
}
SEEDS = ["tiny_uint8", "tiny_uint8", "tiny_float32", "tiny_int8", "detector", "detector", "non_image",
         "edgetpu_sim", "shared_mobilenet_v1_025", "shared_mobilenet_v1_025",
         "shared_mobilenet_v1_025_edgetpu", "shared_ssd_v1"]

INT32_VALUES = [-1, 0, 1, 2, 0x7FFFFFFF, -(2**31), 0xFFFF, 2**30, 2**24, -4, 4, 1 << 20]

flip = st.fixed_dictionaries({"kind": st.just("flip"), "region": st.sampled_from(["head", "head", "any", "tail"]),
                           "pos": st.integers(0, 2**31), "xor": st.integers(1, 255)})
truncate = st.fixed_dictionaries({"kind": st.just("truncate"), "region": st.sampled_from(["head", "any", "tail", "tail"]),
                                  "pos": st.integers(0, 2**31)})
overwrite = st.fixed_dictionaries({"kind": st.just("int32"), "region": st.sampled_from(["head", "head", "head", "any", "tail"]),
                           "pos": st.integers(0, 2**31),
                           "value": st.one_of(st.sampled_from(INT32_VALUES), st.integers(-(2**31), 2**31 - 1))})
# Truncations are rarer: nearly every one is refused at once, hiding the other mutations of its case.
mutation = st.one_of(flip, overwrite, flip, overwrite, overwrite, truncate)

model_cases = st.fixed_dictionaries(
    {
        "seed_model": st.sampled_from(SEEDS),
        "mutations": st.lists(mutation, min_size=1, max_size=4),
    }
)


def mutate(data: bytes, mutations: List[Dict[str, Any]]) -> bytes:
    buf = bytearray(data)
    for m in mutations:
        if not buf:
            break
        n = len(buf)
        if m["region"] == "head":
            pos = m["pos"] % min(n, HEAD)
        elif m["region"] == "tail":
            pos = n - 1 - m["pos"] % min(n, TAIL)
        else:
            pos = m["pos"] % n
        if m["kind"] == "flip":
            buf[pos] ^= m["xor"]
        elif m["kind"] == "truncate":
            del buf[pos:]
        else:
            pos -= pos % 4
            if pos + 4 <= n:
                buf[pos : pos + 4] = struct.pack("<i", m["value"])
    return bytes(buf)


class _ModelCase:
    def __init__(self) -> None:
        self.loop: Optional[asyncio.AbstractEventLoop] = None
        self.seeds: Dict[str, Optional[bytes]] = {}

    def setup(self) -> None:
        self.loop = asyncio.new_event_loop()

    def teardown(self) -> None:
        assert self.loop is not None
        self.loop.close()

    def seed(self, name: str) -> Optional[bytes]:
        if name not in self.seeds:
            if name in SHARED:
                path = data_dir() / "models" / SHARED[name]
                self.seeds[name] = path.read_bytes() if path.is_file() else None
            else:
                self.seeds[name] = _synthetic()[name]()
        return self.seeds[name]

    def __call__(self, case: Case) -> None:
        import streamcore

        base = self.seed(case["seed_model"])
        if base is None:
            return  # shared data absent
        model = streamcore.Model(mutate(base, case["mutations"]))
        devices = ["cpu:1"] + (["sim:1"] if model.is_edgetpu else [])
        for spec in devices:
            try:
                assert self.loop is not None
                self.loop.run_until_complete(asyncio.wait_for(self._engine(model, spec), 60))
            except streamcore.StreamcoreError:
                continue

    async def _engine(self, model: Any, spec: str) -> None:
        import streamcore

        async with streamcore.Engine(model, devices=spec) as engine:
            frame = np.full((20, 28, 3), 77, np.uint8)
            await engine.infer(frame)


run_model_case = _ModelCase()


# Bugs these fuzzers found, fixed (the structural model check refuses them): a reproducer each.


def known_crash(case: Case) -> str:
    return ""  # none left: every case runs


def known_bug(case: Case, outcome: Outcome) -> str:
    # None left. LiteRT's intermittent crash (a child dying after ~75 builds) was its loader
    # reading a zero point per scale on a tensor with scales and no zero points; the model
    # check now refuses that (test_hardening_native), and names with NUL bytes, which made
    # LiteRT throw a C++ exception out of its C API.
    return ""


REPRODUCER = """
import asyncio, streamcore
from streamcore import models
data = bytearray(models.tiny_detector()); data[759] ^= 116
async def main():
    try:
        async with streamcore.Engine(streamcore.Model(bytes(data)), devices="cpu:1"):
            pass
    except streamcore.StreamcoreError:
        pass
asyncio.run(main())
"""


UTF8_REPRODUCER = """
import asyncio, streamcore
from streamcore import models
data = bytearray(models.tiny_detector()); data[1280] ^= 154
async def main():
    async with streamcore.Engine(streamcore.Model(bytes(data)), devices="cpu:1"):
        pass
try:
    asyncio.run(main())
except streamcore.StreamcoreError:
    pass
"""


def test_model_with_a_non_utf8_tensor_name_raises_model_error() -> None:
    proc = subprocess.run([sys.executable, "-c", UTF8_REPRODUCER], capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]


def test_detector_with_one_flipped_byte_does_not_crash() -> None:
    proc = subprocess.run([sys.executable, "-c", REPRODUCER], capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]


def test_mutate_is_deterministic_and_bounded() -> None:
    data = bytes(range(256)) * 4
    m = [{"kind": "int32", "region": "any", "pos": 7, "value": -1}, {"kind": "truncate", "region": "tail", "pos": 3}]
    assert mutate(data, m) == mutate(data, m)
    assert mutate(data, m)[4:8] == b"\xff\xff\xff\xff" and len(mutate(data, m)) == len(data) - 4


@pytest.mark.slow
def test_mutated_models_load_or_raise_model_errors() -> None:
    cases = draw_cases(model_cases, MODEL_CASES)
    report = run_cases("models", "tests.test_fuzz_models:run_model_case", cases, known_bug, timeout=300,
                       skip=known_crash)
    print(report.summary())
    _assert_clean(report)
    # Some mutations must survive the structural check (weights), or the engine path goes untested.
    assert report.count("ok") > MODEL_CASES // 20


def test_a_negative_dimension_in_a_tensor_shape_is_a_model_error() -> None:
    """Found by the fuzzer in CI (fixed): an output shape of [1, -1] (one int32 set to -1) passed
    every check and the simulated Edge TPU's invoke then wrote past the tensor (SIGSEGV)."""
    import streamcore
    from streamcore import models

    data = mutate(models.edgetpu_classifier(16, 5), [{"region": "head", "value": -1, "pos": 16407, "kind": "int32"}])
    with pytest.raises(streamcore.ModelError, match="dimension -1"):
        streamcore.Model(data)
