"""libedgetpu loading through its C++ ABI, and end-to-end runs on the simulated libedgetpu."""

from __future__ import annotations

import ctypes
import gc
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any, Iterator, List

import numpy as np
import numpy.typing as npt
import pytest

pytest.importorskip("tflite_runtime", reason="the Edge TPU runs through tflite_runtime (Python <=3.11)")
from tflite_runtime.interpreter import InterpreterWithCustomOps, OpResolverType  # noqa: E402

from streamcore import _core
from streamcore.backends.sim import sim_library_path
from streamcore.errors import (
    DeviceError,
    DeviceNotFoundError,
    EdgeTpuUnavailableError,
    InputError,
)
from tests.edgetpu_model import edgetpu_model

GET_SINGLETON = "_ZN7edgetpu14EdgeTpuManager12GetSingletonEv"
REGISTER_CUSTOM_OP = "_ZN7edgetpu16RegisterCustomOpEv"
REPO_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    return Path(os.environ.get("STREAMCORE_TEST_DATA", REPO_ROOT.parent / "shared" / "data"))


def shared_model(name: str) -> bytes:
    path = data_dir() / "models" / name
    if not path.exists():
        pytest.skip(f"{path} is absent (set STREAMCORE_TEST_DATA to the shared test data folder)")
    return path.read_bytes()


@pytest.fixture(scope="module")
def runtime() -> _core.EdgeTpuRuntime:
    return _core.EdgeTpuRuntime(sim_library_path())


@pytest.fixture
def opened(runtime: _core.EdgeTpuRuntime) -> Iterator[List[Any]]:
    """Collects devices, interpreters and bindings a test opens, and releases them after it."""
    runtime.sim_configure(2, 0.0)
    held: List[Any] = []
    yield held
    for obj in held:
        if isinstance(obj, _core.EdgeTpuDevice):
            obj.close()
    held.clear()
    gc.collect()


def make_interpreter(runtime: _core.EdgeTpuRuntime, model: bytes) -> Any:
    return InterpreterWithCustomOps(
        model_content=model,
        custom_op_registerers=[runtime.custom_op_registerer()],
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        num_threads=1,
    )


def bound_interpreter(runtime: _core.EdgeTpuRuntime, device: _core.EdgeTpuDevice, model: bytes) -> Any:
    interpreter = make_interpreter(runtime, model)
    # Stored on the interpreter so the device outlives it.
    interpreter.streamcore_binding = _core.bind_edgetpu_interpreter(interpreter._native_handle(), device)
    interpreter.allocate_tensors()
    return interpreter


def run(interpreter: Any, image: npt.NDArray[np.uint8]) -> List[npt.NDArray[Any]]:
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], image)
    interpreter.invoke()
    return [interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()]


def random_input(interpreter: Any, seed: int) -> npt.NDArray[np.uint8]:
    shape = tuple(int(d) for d in interpreter.get_input_details()[0]["shape"])
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def byte_sum(array: npt.NDArray[Any]) -> int:
    return int(array.view(np.uint8).astype(np.uint64).sum())


# --- loading ---------------------------------------------------------------------------------


def test_missing_library_says_how_to_install() -> None:
    with pytest.raises(EdgeTpuUnavailableError) as info:
        _core.EdgeTpuRuntime("/nonexistent/libedgetpu.so.1")
    message = str(info.value)
    assert "libedgetpu1-std" in message and "libedgetpu1-max" in message
    assert "STREAMCORE_LIBEDGETPU" in message
    assert isinstance(info.value, DeviceError) and isinstance(info.value, OSError)


def test_library_without_edgetpu_symbols_names_the_symbol() -> None:
    with pytest.raises(EdgeTpuUnavailableError, match=GET_SINGLETON):
        _core.EdgeTpuRuntime("libm.so.6")


def compile_shared(tmp_path: Path, name: str, source: str) -> str:
    compiler = shutil.which("g++") or shutil.which("c++")
    if compiler is None:
        pytest.skip("no C++ compiler to build a stand-in library")
    src = tmp_path / f"{name}.cpp"
    src.write_text(textwrap.dedent(source))
    out = tmp_path / f"{name}.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-o", str(out), str(src)], check=True)
    return str(out)


def test_library_with_only_some_symbols_names_the_missing_one(tmp_path: Path) -> None:
    path = compile_shared(
        tmp_path,
        "partial",
        """
        namespace edgetpu {
        struct EdgeTpuManager { static EdgeTpuManager* GetSingleton(); };
        EdgeTpuManager* EdgeTpuManager::GetSingleton() { return nullptr; }
        }
        """,
    )
    with pytest.raises(EdgeTpuUnavailableError, match=REGISTER_CUSTOM_OP):
        _core.EdgeTpuRuntime(path)


def test_library_without_a_manager_is_unavailable(tmp_path: Path) -> None:
    path = compile_shared(
        tmp_path,
        "nomanager",
        """
        namespace edgetpu {
        struct EdgeTpuManager { static EdgeTpuManager* GetSingleton(); };
        EdgeTpuManager* EdgeTpuManager::GetSingleton() { return nullptr; }
        void* RegisterCustomOp() { return nullptr; }
        }
        """,
    )
    with pytest.raises(EdgeTpuUnavailableError, match="not supported on this platform"):
        _core.EdgeTpuRuntime(path)


def test_real_libedgetpu_absent_here_is_reported() -> None:
    try:
        ctypes.CDLL("libedgetpu.so.1")
    except OSError:
        pass
    else:
        pytest.skip("libedgetpu.so.1 is installed on this machine")
    with pytest.raises(EdgeTpuUnavailableError, match="libedgetpu1-std"):
        _core.EdgeTpuRuntime("libedgetpu.so.1")


def test_default_path_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STREAMCORE_LIBEDGETPU", raising=False)
    assert _core.default_libedgetpu_path() == "libedgetpu.so.1"
    monkeypatch.setenv("STREAMCORE_LIBEDGETPU", "/opt/coral/libedgetpu.so.1")
    assert _core.default_libedgetpu_path() == "/opt/coral/libedgetpu.so.1"


# --- the simulator through the same loader ----------------------------------------------------


def test_simulator_says_it_is_one(runtime: _core.EdgeTpuRuntime) -> None:
    version = runtime.version()
    assert version.startswith("streamcore simulated libedgetpu")
    assert "SIMULATOR" in version
    assert runtime.simulated
    assert runtime.path == sim_library_path()


def test_simulator_enumerates_configured_devices(runtime: _core.EdgeTpuRuntime) -> None:
    runtime.sim_configure(3, 0.0)
    assert runtime.enumerate() == [("reference", "sim:0"), ("reference", "sim:1"), ("reference", "sim:2")]
    runtime.sim_configure(0, 0.0)
    assert runtime.enumerate() == []


def test_environment_sets_simulator_defaults() -> None:
    code = (
        "from streamcore import _core; from streamcore.backends.sim import sim_library_path;"
        "print(len(_core.EdgeTpuRuntime(sim_library_path()).enumerate()))"
    )
    env = dict(os.environ, STREAMCORE_SIM_DEVICES="4", STREAMCORE_SIM_LATENCY_MS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO_ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "4"


def test_open_each_device_by_path(runtime: _core.EdgeTpuRuntime, opened: List[Any]) -> None:
    for _, path in runtime.enumerate():
        device = runtime.open("reference", path, {})
        opened.append(device)
        assert (device.type, device.path) == ("reference", path)
        assert device.simulated and device.is_ready()
        assert "IsReady" in device.options()


def test_opening_twice_is_refused_until_closed(runtime: _core.EdgeTpuRuntime, opened: List[Any]) -> None:
    device = runtime.open("reference", "sim:0")
    opened.append(device)
    with pytest.raises(DeviceError, match="already open"):
        runtime.open("reference", "sim:0")
    assert runtime.opened_paths() == ["sim:0"]
    device.close()
    assert device.closed
    assert runtime.opened_paths() == []
    with pytest.raises(DeviceError, match="closed"):
        device.is_ready()
    opened.append(runtime.open("reference", "sim:0"))


@pytest.mark.parametrize(
    "options",
    [
        {"Performance": "Turbo"},
        {"Performance": "max"},
        {"Usb.AlwaysDfu": "yes"},
        {"Usb.MaxBulkInQueueLength": "256"},
        {"Usb.MaxBulkInQueueLength": "-1"},
        {"Speed": "Max"},
    ],
)
def test_invalid_options_are_rejected(
    runtime: _core.EdgeTpuRuntime, opened: List[Any], options: dict[str, str]
) -> None:
    with pytest.raises(DeviceError, match=next(iter(options))):
        runtime.open("reference", "sim:0", options)


def test_device_libedgetpu_cannot_open_gets_advice(runtime: _core.EdgeTpuRuntime, opened: List[Any]) -> None:
    runtime.sim_fault("sim:0", "busy")
    with pytest.raises(DeviceError, match="could not open Edge TPU reference:sim:0.*another process"):
        runtime.open("reference", "sim:0")
    runtime.sim_fault("sim:0", "replug")
    opened.append(runtime.open("reference", "sim:0"))


def test_valid_options_reach_the_device(runtime: _core.EdgeTpuRuntime, opened: List[Any]) -> None:
    options = {"Performance": "Low", "Usb.AlwaysDfu": "False", "Usb.MaxBulkInQueueLength": "255"}
    device = runtime.open("reference", "sim:1", options)
    opened.append(device)
    reported = device.options()
    assert {k: reported[k] for k in options} == options


def test_bad_device_specs(runtime: _core.EdgeTpuRuntime, opened: List[Any]) -> None:
    with pytest.raises(DeviceError, match="unknown Edge TPU type"):
        runtime.open("tpu", "sim:0")
    with pytest.raises(DeviceError, match="path"):
        runtime.open("reference", "")
    with pytest.raises(DeviceNotFoundError, match="sim:0"):
        runtime.open("usb", "/sys/bus/usb/devices/2-1")
    with pytest.raises(DeviceNotFoundError, match="sim:9"):
        runtime.open("reference", "sim:9")


def test_verbosity_range(runtime: _core.EdgeTpuRuntime) -> None:
    runtime.set_verbosity(0)
    runtime.set_verbosity(10)
    with pytest.raises(DeviceError, match="0..10"):
        runtime.set_verbosity(11)


def test_simulator_controls_validate(runtime: _core.EdgeTpuRuntime) -> None:
    with pytest.raises(DeviceError):
        runtime.sim_configure(-1, 0.0)
    with pytest.raises(DeviceError):
        runtime.sim_configure(1, -5.0)
    runtime.sim_configure(1, 0.0)
    with pytest.raises(DeviceNotFoundError):
        runtime.sim_fault("sim:7", "unplug")
    with pytest.raises(DeviceError, match="unknown simulator fault"):
        runtime.sim_fault("sim:0", "melt")
    with pytest.raises(DeviceError):
        runtime.sim_fault("sim:0", "fail_after", -1)
    with pytest.raises(DeviceNotFoundError):
        runtime.sim_stats("sim:7")


# --- inference on the simulator --------------------------------------------------------------


def test_tiny_model_outputs_follow_the_input(runtime: _core.EdgeTpuRuntime, opened: List[Any]) -> None:
    device = runtime.open("reference", "sim:0")
    interpreter = bound_interpreter(runtime, device, edgetpu_model(16, 16, output_sizes=(37, 5)))
    opened += [device, interpreter]
    for seed in range(3):
        image = random_input(interpreter, seed)
        first, second = run(interpreter, image)
        s = byte_sum(image)
        j = np.arange(37, dtype=np.uint64)
        expected = ((s + j) % 64).astype(np.uint8)
        expected[s % 37] = 255
        np.testing.assert_array_equal(first.reshape(-1), expected)
        assert int(first.argmax()) == s % 37
        np.testing.assert_array_equal(
            second.reshape(-1), ((s + 17 + np.arange(5, dtype=np.uint64)) % 256).astype(np.uint8)
        )
    assert runtime.sim_stats("sim:0") == (3, 0)


def test_int8_output_peak(runtime: _core.EdgeTpuRuntime, opened: List[Any]) -> None:
    device = runtime.open("reference", "sim:0")
    interpreter = bound_interpreter(runtime, device, edgetpu_model(4, 4, output_sizes=(9,), output_type="int8"))
    opened += [device, interpreter]
    image = random_input(interpreter, 7)
    (out,) = run(interpreter, image)
    assert out.dtype == np.int8 and int(out.argmax()) == byte_sum(image) % 9 and out.max() == 127


def test_invoke_sleeps_the_latency_without_burning_cpu(runtime: _core.EdgeTpuRuntime, opened: List[Any]) -> None:
    runtime.sim_configure(1, 40.0)
    device = runtime.open("reference", "sim:0")
    interpreter = bound_interpreter(runtime, device, edgetpu_model())
    opened += [device, interpreter]
    image = random_input(interpreter, 1)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(5):
        run(interpreter, image)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert wall >= 5 * 0.040
    assert cpu < wall / 2


def test_mobilenet_edgetpu_model_on_the_simulator(runtime: _core.EdgeTpuRuntime, opened: List[Any]) -> None:
    model = shared_model("mobilenet_v2_1.0_224_quant_edgetpu.tflite")
    runtime.sim_configure(1, 20.0)
    device = runtime.open("reference", "sim:0", {"Performance": "Max"})
    interpreter = bound_interpreter(runtime, device, model)
    opened += [device, interpreter]
    image = random_input(interpreter, 3)
    start = time.perf_counter()
    (scores,) = run(interpreter, image)
    elapsed = time.perf_counter() - start
    assert scores.shape == (1, 1001)
    assert int(scores.argmax()) == byte_sum(image) % 1001
    assert elapsed >= 0.020
    assert runtime.sim_stats("sim:0") == (1, 0)


def test_ssd_segments_run_on_two_simulated_devices(runtime: _core.EdgeTpuRuntime, opened: List[Any]) -> None:
    seg0 = shared_model("ssd_mobilenet_v2_coco_quant_postprocess_segment_0_of_2_edgetpu.tflite")
    seg1 = shared_model("ssd_mobilenet_v2_coco_quant_postprocess_segment_1_of_2_edgetpu.tflite")
    dev0, dev1 = runtime.open("reference", "sim:0"), runtime.open("reference", "sim:1")
    first, second = bound_interpreter(runtime, dev0, seg0), bound_interpreter(runtime, dev1, seg1)
    opened += [dev0, dev1, first, second]
    run(first, random_input(first, 5))
    for out, detail in zip(first.get_output_details(), second.get_input_details()):
        second.set_tensor(detail["index"], first.get_tensor(out["index"]))
    second.invoke()
    count = [second.get_tensor(d["index"]) for d in second.get_output_details() if d["shape"].tolist() == [1]]
    assert count and 0 <= float(count[0][0]) <= 20
    assert runtime.sim_stats("sim:0") == (1, 0) and runtime.sim_stats("sim:1") == (1, 0)


def test_unbound_interpreter_fails_in_prepare(runtime: _core.EdgeTpuRuntime, opened: List[Any]) -> None:
    interpreter = make_interpreter(runtime, edgetpu_model())
    with pytest.raises(RuntimeError, match="no Edge TPU context is bound"):
        interpreter.allocate_tensors()


def test_null_interpreter_handle_is_rejected(runtime: _core.EdgeTpuRuntime, opened: List[Any]) -> None:
    device = runtime.open("reference", "sim:0")
    opened.append(device)
    with pytest.raises(InputError):
        _core.bind_edgetpu_interpreter(0, device)


def test_closed_device_stays_alive_for_bound_interpreters(runtime: _core.EdgeTpuRuntime, opened: List[Any]) -> None:
    device = runtime.open("reference", "sim:0")
    interpreter = bound_interpreter(runtime, device, edgetpu_model())
    device.close()
    image = random_input(interpreter, 2)
    (out,) = run(interpreter, image)
    assert int(out.argmax()) == byte_sum(image) % 10
    with pytest.raises(DeviceError, match="already open"):
        runtime.open("reference", "sim:0")
    del interpreter
    gc.collect()
    opened.append(runtime.open("reference", "sim:0"))


def test_fail_after_injects_invoke_errors(runtime: _core.EdgeTpuRuntime, opened: List[Any]) -> None:
    device = runtime.open("reference", "sim:0")
    interpreter = bound_interpreter(runtime, device, edgetpu_model())
    opened += [device, interpreter]
    image = random_input(interpreter, 4)
    runtime.sim_fault("sim:0", "fail_after", 2)
    run(interpreter, image)
    run(interpreter, image)
    for _ in range(2):
        with pytest.raises(RuntimeError, match="fail_after"):
            run(interpreter, image)
    assert runtime.sim_stats("sim:0") == (2, 2)
    assert device.is_ready()
    runtime.sim_fault("sim:0", "replug")
    run(interpreter, image)
    assert runtime.sim_stats("sim:0") == (3, 2)


def test_unplug_and_replug(runtime: _core.EdgeTpuRuntime, opened: List[Any]) -> None:
    device = runtime.open("reference", "sim:1")
    interpreter = bound_interpreter(runtime, device, edgetpu_model())
    opened += [device, interpreter]
    image = random_input(interpreter, 6)
    runtime.sim_fault("sim:1", "unplug")
    assert not device.is_ready()
    assert "IsReady" not in device.options()
    assert ("reference", "sim:1") not in runtime.enumerate()
    with pytest.raises(RuntimeError, match="unplugged"):
        run(interpreter, image)
    runtime.sim_fault("sim:1", "replug")
    assert device.is_ready() and ("reference", "sim:1") in runtime.enumerate()
    (out,) = run(interpreter, image)
    assert int(out.argmax()) == byte_sum(image) % 10
    assert runtime.sim_stats("sim:1") == (1, 1)


def test_simulator_registration_is_tf25_sized_with_junk_after_it() -> None:
    # What our safe copy guards against: reading libedgetpu's registration as a TF 2.14 one
    # would take registration_external / async_kernel / inplace_operator from these bytes.
    lib = ctypes.CDLL(sim_library_path())
    register = getattr(lib, REGISTER_CUSTOM_OP)
    register.restype = ctypes.c_void_p
    address = register()
    raw = ctypes.string_at(address, 88)
    name = ctypes.c_char_p(int.from_bytes(raw[48:56], "little")).value
    assert name == b"edgetpu-custom-op"
    assert int.from_bytes(raw[56:60], "little") == 1  # version
    assert raw[64:88] == b"\xa5" * 24


def test_interpreters_on_two_devices_from_two_threads(runtime: _core.EdgeTpuRuntime, opened: List[Any]) -> None:
    runtime.sim_configure(2, 1.0)
    devices = [runtime.open("reference", f"sim:{i}") for i in range(2)]
    interpreters = [bound_interpreter(runtime, d, edgetpu_model(6, 6, output_sizes=(11,))) for d in devices]
    opened += devices + interpreters
    wrong: List[str] = []

    def work(index: int) -> None:
        for step in range(20):
            image = random_input(interpreters[index], 100 * index + step)
            (out,) = run(interpreters[index], image)
            if int(out.argmax()) != byte_sum(image) % 11:
                wrong.append(f"device {index} step {step}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []
    assert runtime.sim_stats("sim:0") == (20, 0) and runtime.sim_stats("sim:1") == (20, 0)
