"""Drive load at one URL: wrk when it is installed, else a bounded Python client.

Both run for a fixed time with a fixed number of keep-alive connections and report
requests/s, p50 and p99 latency. Every run is bounded in time (and the Python
client in count too); only loopback addresses are ever used.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

PYTHON_MAX_REQUESTS = 200_000


@dataclass
class Spec:
    """One kind of request. ``rotate`` gives each wrk thread (or Python connection)
    its own headers, so that concurrent writes never share one session."""

    path: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    rotate: list[dict[str, str]] = field(default_factory=list)
    counter_in_body: bool = False


@dataclass
class LoadResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    tool: str

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def _lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal here


def _lua_script(spec: Spec) -> str:
    lines = [f"wrk.method = {_lua_string(spec.method)}"]
    for name, value in spec.headers.items():
        lines.append(f"wrk.headers[{_lua_string(name)}] = {_lua_string(value)}")
    if spec.body is not None:
        lines.append(f"wrk.body = {_lua_string(spec.body)}")
    if spec.rotate:
        entries = ", ".join(
            "{" + ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in h.items()) + "}"
            for h in spec.rotate)
        lines += [
            f"local rotation = {{{entries}}}",
            "local next_id = 0",
            "function setup(thread) thread:set('thread_id', next_id); next_id = next_id + 1 end",
            "local sent = 0",
            "function request()",
            "  sent = sent + 1",
            "  local headers = {}",
            "  for k, v in pairs(wrk.headers) do headers[k] = v end",
            "  for k, v in pairs(rotation[(thread_id % #rotation) + 1]) do headers[k] = v end",
            "  local body = wrk.body",
            "  if body then body = string.gsub(body, '@N@', tostring(sent)) end",
            f"  return wrk.format(nil, {_lua_string(spec.path)}, headers, body)",
            "end",
        ]
    lines += [
        "function done(summary, latency, requests)",
        "  local e = summary.errors",
        "  io.write(string.format('BENCH_JSON {\"requests\": %d, \"duration_us\": %.0f, "
        "\"p50_us\": %.0f, \"p99_us\": %.0f, \"errors\": %d}\\n', summary.requests, "
        "summary.duration, latency:percentile(50), latency:percentile(99), "
        "e.connect + e.read + e.write + e.status + e.timeout))",
        "end",
    ]
    return "\n".join(lines) + "\n"


def have_wrk() -> bool:
    return shutil.which("wrk") is not None and not os.environ.get("BENCH_NO_WRK")


class Load:
    """A load run that can be started, left running, and stopped early."""

    def __init__(self, port: int, spec: Spec, *, seconds: float, connections: int,
                 threads: int) -> None:
        self.port, self.spec, self.seconds = port, spec, seconds
        self.connections, self.threads = connections, threads
        if spec.rotate:
            # One thread per connection, so each connection keeps to its own session.
            self.threads = self.connections = min(connections, len(spec.rotate))
        self._process: subprocess.Popen | None = None
        self._python: _PythonLoad | None = None
        self._script: Path | None = None

    def start(self) -> Load:
        if have_wrk():
            handle, name = tempfile.mkstemp(suffix=".lua", prefix="sessapp-bench-")
            os.close(handle)
            self._script = Path(name)
            self._script.write_text(_lua_script(self.spec))
            self._process = subprocess.Popen(
                ["wrk", f"-t{self.threads}", f"-c{self.connections}",
                 f"-d{max(1, round(self.seconds))}s", "--timeout", "10s", "-s", str(self._script),
                 f"http://127.0.0.1:{self.port}{self.spec.path}"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        else:
            self._python = _PythonLoad(self.port, self.spec, self.seconds, self.connections)
            self._python.start()
        return self

    def stop_early(self) -> None:
        if self._process is not None and self._process.poll() is None:
            os.kill(self._process.pid, signal.SIGINT)  # wrk prints its report on SIGINT
        if self._python is not None:
            self._python.deadline = time.monotonic()

    def result(self) -> LoadResult:
        try:
            if self._python is not None:
                return self._python.join()
            assert self._process is not None
            try:
                output, _ = self._process.communicate(timeout=self.seconds + 60)
            except subprocess.TimeoutExpired:
                self._process.kill()
                output, _ = self._process.communicate()
            for line in output.splitlines():
                if line.startswith("BENCH_JSON "):
                    data = json.loads(line[len("BENCH_JSON "):])
                    return LoadResult(
                        requests=data["requests"], seconds=data["duration_us"] / 1e6,
                        p50_ms=data["p50_us"] / 1000, p99_ms=data["p99_us"] / 1000,
                        errors=data["errors"], tool="wrk")
            raise RuntimeError(f"wrk gave no result:\n{output}")
        finally:
            if self._process is not None and self._process.poll() is None:
                self._process.kill()
                self._process.wait()
            if self._script is not None:
                self._script.unlink(missing_ok=True)


def run_load(port: int, spec: Spec, *, seconds: float, connections: int = 4,
             threads: int = 2) -> LoadResult:
    return Load(port, spec, seconds=seconds, connections=connections,
                threads=threads).start().result()


class _PythonLoad:
    """Keep-alive connections in threads; bounded by time and by request count."""

    def __init__(self, port: int, spec: Spec, seconds: float, connections: int) -> None:
        self.port, self.spec, self.connections = port, spec, connections
        self.deadline = time.monotonic() + seconds
        self.latencies: list[float] = []
        self.errors = 0
        self.lock = threading.Lock()
        self.workers: list[threading.Thread] = []
        self.started = 0.0

    def start(self) -> None:
        self.started = time.monotonic()
        for index in range(self.connections):
            worker = threading.Thread(target=self._work, args=(index,), daemon=True)
            worker.start()
            self.workers.append(worker)

    def _work(self, index: int) -> None:
        headers = {"Host": "127.0.0.1", **self.spec.headers}
        if self.spec.rotate:
            headers.update(self.spec.rotate[index % len(self.spec.rotate)])
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        mine: list[float] = []
        errors = 0
        sent = 0
        budget = PYTHON_MAX_REQUESTS // self.connections
        try:
            while time.monotonic() < self.deadline and sent < budget:
                sent += 1
                body = self.spec.body
                if body is not None:
                    body = body.replace("@N@", str(sent))
                began = time.perf_counter()
                try:
                    connection.request(self.spec.method, self.spec.path, body=body,
                                       headers=headers)
                    response = connection.getresponse()
                    response.read()
                    if response.status >= 400:
                        errors += 1
                except (OSError, http.client.HTTPException):
                    errors += 1
                    connection.close()
                    connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                    continue
                mine.append(time.perf_counter() - began)
        finally:
            connection.close()
            with self.lock:
                self.latencies.extend(mine)
                self.errors += errors

    def join(self) -> LoadResult:
        for worker in self.workers:
            worker.join(timeout=max(0.0, self.deadline - time.monotonic()) + 30)
        elapsed = time.monotonic() - self.started
        ordered = sorted(self.latencies) or [0.0]
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return LoadResult(requests=len(self.latencies), seconds=elapsed,
                          p50_ms=statistics.median(ordered) * 1000, p99_ms=p99 * 1000,
                          errors=self.errors, tool="python")
