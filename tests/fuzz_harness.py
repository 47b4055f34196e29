"""Runs fuzz cases in child processes, so that a crash is a reported failure, not a lost run.

The parent hands a child a JSON list of cases (plain dicts) on stdin; the child
(``python -m tests.fuzz_harness MODULE:FUNCTION``) runs them one after another and prints one
JSON line per case as soon as it is done: ``{"i": index, "status": "ok"|"streamcore"|"other",
"type": exception class, "message": ...}``. A child that dies (signal, abort, sanitizer report)
or hangs leaves the case after its last line as the suspect: that case is run again alone to
confirm it, and the rest of the batch goes on in a new child.

Each fuzz test adds a summary line (cases, crashes, non-streamcore errors) to ``SUMMARIES``,
which tests/conftest.py prints at the end of the run, and writes the outcomes to
``.ci/artifacts/fuzz-NAME.json``.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / ".ci" / "artifacts"
SUMMARIES: List[str] = []

Case = Dict[str, Any]


@dataclass
class Outcome:
    index: int
    status: str  # ok | streamcore | other | crash | hang
    type: str = ""
    message: str = ""
    known: str = ""  # the reason, when the case matches a known (xfailed) bug
    ms: float = 0.0


@dataclass
class Report:
    name: str
    cases: List[Case]
    outcomes: List[Outcome] = field(default_factory=list)
    seconds: float = 0.0
    children: int = 0

    def count(self, *statuses: str, known: Optional[bool] = None) -> int:
        return sum(
            1
            for o in self.outcomes
            if o.status in statuses and (known is None or bool(o.known) == known)
        )

    def failures(self) -> List[Outcome]:
        """Crashes, hangs and non-streamcore errors that no known bug explains."""
        return [o for o in self.outcomes if o.status in ("crash", "hang", "other") and not o.known]

    def summary(self) -> str:
        return (
            f"fuzz {self.name}: {len(self.cases)} cases, {self.count('ok')} ok, "
            f"{self.count('streamcore')} StreamcoreError, {self.count('crash', 'hang')} crashes "
            f"({self.count('crash', 'hang', known=True)} known), {self.count('other')} non-streamcore errors "
            f"({self.count('other', known=True)} known); {self.count('skipped')} not run (known bugs); "
            f"{self.children} child processes, {self.seconds:.1f} s"
        )

    def describe(self, outcome: Outcome) -> str:
        case = json.dumps(self.cases[outcome.index], sort_keys=True)
        return f"case {outcome.index} {outcome.status} {outcome.type}: {outcome.message[:1500]}\n  reproducer: {case}"

    def write(self) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        data = {
            "summary": self.summary(),
            "cases": len(self.cases),
            "crashes": self.count("crash", "hang"),
            "non_streamcore_errors": self.count("other"),
            "skipped_known": self.count("skipped"),
            "slowest": sorted(((o.ms, o.index) for o in self.outcomes), reverse=True)[:5],
        "findings": [
                {**o.__dict__, "case": self.cases[o.index]}
                for o in self.outcomes
                if o.status in ("crash", "hang", "other")
            ],
        }
        (ARTIFACTS / f"fuzz-{self.name}.json").write_text(json.dumps(data, indent=1, default=str))
        SUMMARIES.append(self.summary())


def _child_env() -> Dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("PYTHONFAULTHANDLER", "1")
    return env


def _limits(memory_mb: int) -> Callable[[], None]:
    def apply() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash is reported, not dumped
        if memory_mb and "libasan" not in os.environ.get("LD_PRELOAD", ""):
            # A native allocation sized from a huge (refused too late) frame fails at once
            # (std::bad_alloc) instead of paging gigabytes in before it crashes.
            resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))

    return apply


def _run_child(
    target: str, cases: Sequence[Case], timeout: float, memory_mb: int = 0
) -> "tuple[List[Dict[str, Any]], int, str]":
    """(result lines, exit code (-1 on a hang), stderr tail)."""
    env = _child_env()
    if memory_mb and "libasan" in env.get("LD_PRELOAD", ""):  # ASan's shadow memory needs the address space
        env["ASAN_OPTIONS"] = ":".join(
            filter(None, [env.get("ASAN_OPTIONS"), f"max_allocation_size_mb={memory_mb}", "allocator_may_return_null=1"])
        )
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fuzz_harness", target],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=str(ROOT),
        env=env,
        preexec_fn=_limits(memory_mb),
    )
    try:
        out, err = proc.communicate(json.dumps(list(cases)).encode(), timeout=timeout)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        code = -1
    lines = []
    for raw in out.decode(errors="replace").splitlines():
        if raw.startswith("{"):
            try:
                lines.append(json.loads(raw))
            except ValueError:
                pass
    tail = "\n".join(err.decode(errors="replace").splitlines()[-40:])
    return lines, code, tail


def run_cases(
    name: str,
    target: str,
    cases: Sequence[Case],
    known: Callable[[Case, Outcome], str] = lambda case, outcome: "",
    timeout: float = 120.0,
    batch: int = 1000,
    memory_mb: int = 0,
    skip: Callable[[Case], str] = lambda case: "",
) -> Report:
    """Runs `cases` through `target` ("module:function") in as few children as crashes allow.
    `memory_mb` caps a child's address space (or, under ASan, its largest allocation).
    Cases `skip` names a known bug for are not run (each such bug has an xfail reproducer)."""
    report = Report(name, list(cases))
    started = time.monotonic()
    run_index: List[int] = []
    for index, case in enumerate(cases):
        reason = skip(case)
        if reason:
            report.outcomes.append(Outcome(index, "skipped", known=reason))
        else:
            run_index.append(index)
    cases = [cases[i] for i in run_index]
    first_outcome = len(report.outcomes)
    start = 0
    while start < len(cases):
        chunk = list(cases[start : start + batch])
        lines, code, tail = _run_child(target, chunk, timeout, memory_mb)
        report.children += 1
        for line in lines:
            report.outcomes.append(
                Outcome(start + int(line["i"]), line["status"], line.get("type", ""), line.get("message", ""),
                        ms=float(line.get("ms", 0.0)))
            )
        done = len(lines)
        if done == len(chunk) and code == 0:
            start += done
            continue
        if done == len(chunk):  # every case reported, then the child died (at exit)
            report.outcomes.append(Outcome(start + done - 1, "crash", f"exit {code}", "at interpreter exit:\n" + tail))
            start += done
            continue
        suspect = start + done
        alone, alone_code, alone_tail = _run_child(target, [cases[suspect]], timeout, memory_mb)
        report.children += 1
        if alone and alone_code == 0:
            message = (
                f"crashes only after cases {start}..{suspect - 1} ran in the same process "
                f"(exit {code}); alone: {alone[0]['status']}\n{tail}"
            )
        else:
            message = tail if alone_code != 0 else f"exit {code}\n{tail}"
        status = "hang" if code == -1 else "crash"
        report.outcomes.append(Outcome(suspect, status, f"exit {code}", message))
        start = suspect + 1
    report.seconds = time.monotonic() - started
    for outcome in report.outcomes[first_outcome:]:
        outcome.index = run_index[outcome.index]  # back to the index in report.cases
        outcome.known = known(report.cases[outcome.index], outcome) if outcome.status != "ok" else ""
    report.write()
    return report


def classify(exc: BaseException) -> Dict[str, Any]:
    from streamcore.errors import StreamcoreError

    status = "streamcore" if isinstance(exc, StreamcoreError) else "other"
    message = str(exc)
    if status == "other":
        message += "\n" + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-6:])
    return {"status": status, "type": type(exc).__name__, "message": message[:2000]}


def _child(target: str) -> None:
    module_name, function_name = target.split(":")
    run_case: Callable[[Case], None] = getattr(importlib.import_module(module_name), function_name)
    cases = json.loads(sys.stdin.read())
    setup = getattr(run_case, "setup", None)
    if setup is not None:
        setup()
    for i, case in enumerate(cases):
        t0 = time.perf_counter()
        try:
            run_case(case)
            line: Dict[str, Any] = {"status": "ok"}
        except Exception as exc:  # noqa: BLE001 - classifying every exception is the point
            line = classify(exc)
        line["i"] = i
        line["ms"] = round((time.perf_counter() - t0) * 1000, 1)
        print(json.dumps(line, default=str), flush=True)
    teardown = getattr(run_case, "teardown", None)
    if teardown is not None:
        teardown()


if __name__ == "__main__":
    _child(sys.argv[1])
