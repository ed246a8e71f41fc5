"""A real Arize Phoenix server for end-to-end tests, run as a subprocess on loopback.

``Phoenix(executable)`` starts ``phoenix serve`` from its own virtualenv (Phoenix's
dependencies never enter the test venv) with everything it keeps on disk in a
temporary directory, its database in memory, and every switch that stops it from
reaching the internet on its own (telemetry pixels, external resources such as web
fonts and the WASM sandbox download, the agent assistant)::

    with Phoenix("/path/to/venv/bin/phoenix") as phoenix:
        exporter = OTLPSpanExporter(endpoint=phoenix.otlp_http_endpoint)
        ...
        spans = phoenix.wait_for_spans("my-project", count=3)

The HTTP server (UI, REST, GraphQL, OTLP/HTTP) binds 127.0.0.1. Phoenix binds its
OTLP/gRPC server to every interface (``[::]``, not configurable), so its port is
chosen free on all interfaces, not just on loopback; clients still dial 127.0.0.1.
Every wait is bounded; the server's output goes to a log file whose tail is put in
every error raised here.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
# Measured 11-21 s on an idle 2-core machine and up to 60 s with two starting at once: a wide margin.
START_TIMEOUT = 120.0
STOP_TIMEOUT = 15.0
# Phoenix writes received spans to its database from a queue, after answering the export.
INGEST_TIMEOUT = 15.0
POLL_INTERVAL = 0.1
LOG_TAIL = 6000

# What keeps Phoenix off the network and out of our way; see the module docstring.
QUIET_ENVIRONMENT = {
    "PHOENIX_TELEMETRY_ENABLED": "false",
    "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
    "PHOENIX_DISABLE_AGENT_ASSISTANT": "true",
    # No Phoenix code reads it (20.26.1); set for any dependency that honours the convention.
    "DO_NOT_TRACK": "1",
    "PHOENIX_SQL_DATABASE_URL": "sqlite:///:memory:",
    "PYTHONUNBUFFERED": "1",
}
# Inherited settings that would make Phoenix trace itself, export elsewhere or read another config.
_DROPPED_PREFIXES = ("PHOENIX_", "OTEL_", "OPENINFERENCE_")


class PhoenixError(RuntimeError):
    """Phoenix did not start, stop or answer as expected; the message ends with its log."""


def _free_port(family: socket.AddressFamily, address: str) -> int:
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        if family == socket.AF_INET6:
            # Dual stack, so the port is known free for IPv4 clients of [::] too.
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


def free_loopback_port() -> int:
    return _free_port(socket.AF_INET, HOST)


def free_port_all_interfaces() -> int:
    """A port free on every interface, for a server that binds ``[::]``."""
    if socket.has_ipv6:
        try:
            return _free_port(socket.AF_INET6, "::")
        except OSError:
            pass  # no IPv6 on this host: grpc then binds 0.0.0.0
    return _free_port(socket.AF_INET, "0.0.0.0")


class Phoenix:
    """One ``phoenix serve`` subprocess; a context manager that starts and stops it."""

    def __init__(self, executable: str, *, start_timeout: float = START_TIMEOUT) -> None:
        self.executable = executable
        self.start_timeout = start_timeout
        self.http_port = 0
        self.grpc_port = 0
        self.directory: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.startup_seconds = 0.0
        self.last_log = ""  # the log as it was when stop() removed the scratch directory
        # Proxies in the environment must never see loopback requests.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    # -- addresses ------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.http_port}"

    @property
    def otlp_http_endpoint(self) -> str:
        return f"{self.base_url}/v1/traces"

    @property
    def otlp_grpc_endpoint(self) -> str:
        return f"http://{HOST}:{self.grpc_port}"

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> Phoenix:
        self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def start(self) -> None:
        if not Path(self.executable).is_file():
            raise PhoenixError(f"no Phoenix executable at {self.executable!r}")
        self.directory = Path(tempfile.mkdtemp(prefix="tokenomics-phoenix-"))
        started = time.monotonic()
        try:
            self._launch()
            self._wait_until_healthy(started + self.start_timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started

    def _environment(self) -> dict[str, str]:
        assert self.directory is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_PREFIXES)}
        env.update(QUIET_ENVIRONMENT)
        env.update(
            {
                "PHOENIX_HOST": HOST,
                "PHOENIX_PORT": str(self.http_port),
                "PHOENIX_GRPC_PORT": str(self.grpc_port),
                "PHOENIX_WORKING_DIR": str(self.directory / "working"),
                # Libraries that cache under the home directory write to scratch instead.
                "HOME": str(self.directory / "home"),
            }
        )
        return env

    def _launch(self) -> None:
        assert self.directory is not None
        (self.directory / "working").mkdir()
        (self.directory / "home").mkdir()
        self.http_port = free_loopback_port()
        self.grpc_port = free_port_all_interfaces()
        while self.grpc_port == self.http_port:
            self.grpc_port = free_port_all_interfaces()
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [self.executable, "serve"],
                env=self._environment(),
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def _wait_until_healthy(self, deadline: float) -> None:
        assert self.process is not None
        while True:
            code = self.process.poll()
            if code is not None:
                raise PhoenixError(self._with_log(f"Phoenix exited with code {code} while starting"))
            try:
                with self._opener.open(f"{self.base_url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass  # not listening yet
            if time.monotonic() >= deadline:
                message = f"Phoenix not healthy within {self.start_timeout:.0f} s on {self.base_url}"
                raise PhoenixError(self._with_log(message))
            time.sleep(0.25)

    def stop(self) -> None:
        """Terminate, wait, kill if need be; then remove the scratch directory."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT)
        if self.directory is not None:
            self.last_log = self.log()
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    # -- log --------------------------------------------------------------------------------

    @property
    def log_path(self) -> Path:
        assert self.directory is not None
        return self.directory / "phoenix.log"

    def log(self) -> str:
        if self.directory is None:
            return self.last_log
        try:
            return self.log_path.read_text("utf-8", "replace")
        except OSError:
            return ""

    def _with_log(self, message: str) -> str:
        return f"{message}\n--- Phoenix log (tail) ---\n{self.log()[-LOG_TAIL:]}"

    # -- REST -------------------------------------------------------------------------------

    def get(self, path: str, **query: Any) -> tuple[int, Any]:
        """(status, decoded JSON body) of ``GET path``; a 4xx answer is returned, not raised."""
        url = f"{self.base_url}{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        try:
            with self._opener.open(url, timeout=10) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            body = error.read().decode("utf-8", "replace")
            return error.code, body

    def get_json(self, path: str, **query: Any) -> Any:
        status, body = self.get(path, **query)
        if status != 200:
            raise PhoenixError(self._with_log(f"GET {path} {query}: HTTP {status}: {body}"))
        return body

    def graphql(self, query: str, **variables: Any) -> Any:
        """The ``data`` of a GraphQL query; PhoenixError on an HTTP error or a GraphQL error."""
        body = json.dumps({"query": query, "variables": variables}).encode()
        request = urllib.request.Request(
            f"{self.base_url}/graphql", data=body, headers={"content-type": "application/json"}
        )
        try:
            with self._opener.open(request, timeout=10) as response:
                answer = json.load(response)
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", "replace")
            raise PhoenixError(self._with_log(f"POST /graphql: HTTP {error.code}: {detail}")) from None
        if answer.get("errors"):
            raise PhoenixError(self._with_log(f"POST /graphql: {answer['errors']}"))
        return answer["data"]

    def _pages(self, path: str) -> list[dict[str, Any]] | None:
        """Every item of a paginated listing; None while the project does not exist (404)."""
        items: list[dict[str, Any]] = []
        query: dict[str, Any] = {"limit": 100}
        while True:
            status, body = self.get(path, **query)
            if status == 404:
                return None
            if status != 200:
                raise PhoenixError(self._with_log(f"GET {path} {query}: HTTP {status}: {body}"))
            items.extend(body["data"])
            if not body.get("next_cursor"):
                return items
            query["cursor"] = body["next_cursor"]

    def spans(self, project: str, *, otlp: bool = False) -> list[dict[str, Any]] | None:
        """The project's spans: Phoenix's flat form, or (``otlp``) its OTLP-JSON-like form."""
        quoted = urllib.parse.quote(project, safe="")
        return self._pages(f"/v1/projects/{quoted}/spans" + ("/otlpv1" if otlp else ""))

    def traces(self, project: str) -> list[dict[str, Any]] | None:
        return self._pages(f"/v1/projects/{urllib.parse.quote(project, safe='')}/traces")

    def wait_for(
        self, read: Callable[[], Any], done: Callable[[Any], bool], what: str, timeout: float = INGEST_TIMEOUT
    ) -> Any:
        """Poll ``read()`` until ``done(value)``; then PhoenixError (last value, log) after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            value = read()
            if done(value):
                return value
            if time.monotonic() >= deadline:
                message = f"{what} not seen within {timeout:.0f} s; last read: {value!r}"
                raise PhoenixError(self._with_log(message))
            time.sleep(POLL_INTERVAL)

    def wait_for_spans(self, project: str, count: int, *, otlp: bool = False) -> list[dict[str, Any]]:
        """The project's spans once there are ``count`` of them (ingestion is asynchronous)."""
        return self.wait_for(
            lambda: self.spans(project, otlp=otlp),
            lambda spans: spans is not None and len(spans) >= count,
            f"{count} spans in Phoenix project {project!r}",
        )
