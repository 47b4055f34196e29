from __future__ import annotations

import asyncio
import inspect
import os
import sys
from pathlib import Path
from typing import Any, Coroutine, Dict, List

import pytest

ROOT = Path(__file__).resolve().parent.parent

# The event loop async tests run on: "uvloop" (the default, as streamcore.run uses it; stock asyncio
# where uvloop is not installed), "asyncio", or "asyncio-debug" (stock asyncio in debug mode, where
# an exception that reaches the loop's handler fails the test). CI runs the suite on uvloop, then
# the async tests again on asyncio-debug (STREAMCORE_TEST_ASYNC_ONLY=1 deselects the rest).
TEST_LOOP = os.environ.get("STREAMCORE_TEST_LOOP", "uvloop")
ASYNC_ONLY = os.environ.get("STREAMCORE_TEST_ASYNC_ONLY", "") == "1"
# Set by .ci/sanitize (ASan + UBSan build): tests of runtimes that trip ASan themselves skip.
SANITIZED = os.environ.get("STREAMCORE_SANITIZED", "") == "1"


def data_dir() -> Path:
    env = os.environ.get("STREAMCORE_TEST_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = data_dir()
    if not (path / "models").is_dir():
        pytest.skip(f"shared test data not found at {path} (set STREAMCORE_TEST_DATA)")
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from streamcore import models

    return models.write(models.tiny_classifier((32, 32, 3), 10), tmp_path_factory.mktemp("m") / "tiny.tflite")


SANITIZED_OPENVINO = (
    "OpenVINO is skipped under ASan (.ci/sanitize): it dlopens libtbbbind with RTLD_DEEPBIND, which "
    "the sanitizer runtime refuses and aborts on (google/sanitizers#611)"
)


def pytest_configure(config: pytest.Config) -> None:
    if SANITIZED:
        # Under the sanitized build the openvino backend reports itself unavailable, so its tests
        # skip with this reason, as they do where OpenVINO is not installed.
        from streamcore.backends import openvino
        from streamcore.errors import BackendUnavailableError

        def runtime(self: Any) -> Any:
            raise BackendUnavailableError(SANITIZED_OPENVINO)

        openvino.OpenVinoBackend.runtime = runtime  # type: ignore[method-assign]


def _new_loop() -> "asyncio.AbstractEventLoop":
    if TEST_LOOP == "uvloop":
        try:
            import uvloop

            loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
            return loop
        except ImportError:
            pass
    elif TEST_LOOP not in ("asyncio", "asyncio-debug"):
        raise pytest.UsageError(f"STREAMCORE_TEST_LOOP={TEST_LOOP!r}: use uvloop, asyncio or asyncio-debug")
    return asyncio.new_event_loop()


def _run_async_test(coro: "Coroutine[Any, Any, Any]") -> None:
    debug = TEST_LOOP == "asyncio-debug"
    unhandled: List[Dict[str, Any]] = []

    def handler(loop: asyncio.AbstractEventLoop, context: Dict[str, Any]) -> None:
        unhandled.append(context)
        loop.default_exception_handler(context)

    async def main() -> None:
        if debug:
            asyncio.get_running_loop().set_exception_handler(handler)
        await asyncio.wait_for(coro, timeout=120)

    if sys.version_info >= (3, 11):
        with asyncio.Runner(debug=debug, loop_factory=_new_loop) as runner:
            runner.run(main())
    else:  # pragma: no cover - CI runs 3.11+
        asyncio.run(main(), debug=debug)
    if unhandled:
        raise AssertionError(
            "the event loop's exception handler was called (asyncio debug mode): "
            + "; ".join(str(c.get("message")) + ": " + repr(c.get("exception")) for c in unhandled)
        )


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> "bool | None":
    """Runs `async def` tests in a fresh event loop (no pytest-asyncio needed), see TEST_LOOP."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    _run_async_test(pyfuncitem.obj(**kwargs))
    return True


def pytest_collection_modifyitems(config: pytest.Config, items: List[pytest.Item]) -> None:
    if not ASYNC_ONLY:
        return
    keep = [i for i in items if isinstance(i, pytest.Function) and inspect.iscoroutinefunction(i.obj)]
    config.hook.pytest_deselected(items=[i for i in items if i not in keep])
    items[:] = keep


def pytest_report_header(config: pytest.Config) -> str:
    return f"streamcore test loop: {TEST_LOOP}" + (" (async tests only)" if ASYNC_ONLY else "")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The fuzz tests' counts (cases, crashes, non-streamcore errors), also in .ci/artifacts/."""
    from tests import fuzz_harness

    for line in fuzz_harness.SUMMARIES:
        terminalreporter.write_line(line)
