"""A small OTLP receiver for tests: OTLP/HTTP (protobuf) and OTLP/gRPC on 127.0.0.1.

Both servers decode what real OTLP exporters send into the
``opentelemetry.proto.collector.*.v1`` request messages and keep, per export,
the path (gRPC: the full method name), the headers (gRPC: the invocation
metadata) and the decoded request. Helpers flatten the requests into plain
Python values for assertions::

    with HttpReceiver() as receiver:          # or GrpcReceiver()
        ...  # point OTEL_EXPORTER_OTLP_ENDPOINT at receiver.endpoint, export
        receiver.wait_for(lambda r: r.exports("traces"))
        spans = flat_spans(receiver.exports("traces"))

Every wait is bounded, servers bind to an ephemeral loopback port, and leaving
the ``with`` block stops them.
"""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from google.protobuf import text_format
from google.protobuf.message import DecodeError, Message
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

HOST = "127.0.0.1"
MAX_BODY = 64 * 1024 * 1024  # the OTLP exporters' own default request limit
WAIT_SECONDS = 5.0

# signal -> (request class, response class)
MESSAGES: dict[str, tuple[type[Message], type[Message]]] = {
    "traces": (trace_service_pb2.ExportTraceServiceRequest, trace_service_pb2.ExportTraceServiceResponse),
    "metrics": (
        metrics_service_pb2.ExportMetricsServiceRequest,
        metrics_service_pb2.ExportMetricsServiceResponse,
    ),
    "logs": (logs_service_pb2.ExportLogsServiceRequest, logs_service_pb2.ExportLogsServiceResponse),
}
HTTP_PATHS = {f"/v1/{signal}": signal for signal in MESSAGES}
GRPC_METHODS = {
    "traces": f"/{trace_service_pb2.DESCRIPTOR.services_by_name['TraceService'].full_name}/Export",
    "metrics": f"/{metrics_service_pb2.DESCRIPTOR.services_by_name['MetricsService'].full_name}/Export",
    "logs": f"/{logs_service_pb2.DESCRIPTOR.services_by_name['LogsService'].full_name}/Export",
}


@dataclass(frozen=True)
class Export:
    """One export request as the receiver got it."""

    protocol: str  # "http" or "grpc"
    signal: str  # "traces", "metrics" or "logs"
    path: str  # HTTP path, or the gRPC method ("/<package>.<Service>/Export")
    headers: Mapping[str, str]  # keys lower-cased; gRPC: invocation metadata
    request: Message  # the decoded Export*ServiceRequest
    body: bytes = b""  # the bytes on the wire, after decompression

    def text(self) -> str:
        """Everything this export carried, as searchable text."""
        parts = [self.path, *(f"{k}: {v}" for k, v in self.headers.items())]
        parts.append(text_format.MessageToString(self.request, as_utf8=True))
        parts.append(self.body.decode("utf-8", "replace"))
        return "\n".join(parts)


class _Receiver:
    protocol = ""

    def __init__(self) -> None:
        self._exports: list[Export] = []
        self._changed = threading.Condition()
        self.rejected: list[tuple[str, str]] = []  # (path, reason) of requests answered with an error
        self.endpoint = ""

    # -- recording --------------------------------------------------------------------

    def _record(self, export: Export) -> None:
        with self._changed:
            self._exports.append(export)
            self._changed.notify_all()

    def _reject(self, path: str, reason: str) -> None:
        with self._changed:
            self.rejected.append((path, reason))
            self._changed.notify_all()

    def exports(self, signal: str | None = None) -> list[Export]:
        with self._changed:
            return [e for e in self._exports if signal is None or e.signal == signal]

    def clear(self) -> None:
        with self._changed:
            self._exports.clear()
            self.rejected.clear()

    def wait_for(self, predicate: Callable[[_Receiver], Any], timeout: float = WAIT_SECONDS) -> Any:
        """Wait until ``predicate(self)`` is truthy and return its value; AssertionError after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                value = predicate(self)
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    got = [(e.signal, e.path) for e in self._exports]
                    raise AssertionError(
                        f"OTLP receiver: condition not met within {timeout} s; "
                        f"got {got}, rejected {self.rejected}"
                    )
                # Poll too: a predicate may depend on more than the recorded exports.
                self._changed.wait(min(remaining, 0.05))

    def wait(self, signal: str, count: int = 1, timeout: float = WAIT_SECONDS) -> list[Export]:
        return self.wait_for(lambda r: len(r.exports(signal)) >= count and r.exports(signal), timeout)

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> _Receiver:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- OTLP/HTTP ------------------------------------------------------------------------


def _status(code: int, message: str) -> bytes:
    return status_pb2.Status(code=code, message=message).SerializeToString()


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer
    timeout = WAIT_SECONDS  # no connection can hold a worker thread for long

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks, size = [], 0
            while True:
                length = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
                if length == 0:
                    self.rfile.readline(1024)
                    return b"".join(chunks)
                size += length
                if size > MAX_BODY:
                    raise ValueError("body too large")
                chunks.append(self.rfile.read(length))
                self.rfile.readline(1024)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(length)

    def do_POST(self) -> None:
        receiver = self.server.receiver
        path = self.path.split("?", 1)[0]
        signal = HTTP_PATHS.get(path)
        if signal is None:
            receiver._reject(path, "unknown path")
            self._answer(404, _status(code_pb2.NOT_FOUND, f"no OTLP signal at {path}"))
            return
        try:
            body = self._read_body()
            encoding = self.headers.get("Content-Encoding", "").lower()
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding == "deflate":
                body = zlib.decompress(body)
            elif encoding not in ("", "identity"):
                raise ValueError(f"unsupported Content-Encoding {encoding!r}")
            content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if content_type != "application/x-protobuf":
                raise ValueError(f"unsupported Content-Type {content_type!r}")
            request_cls, response_cls = MESSAGES[signal]
            request = request_cls()
            request.ParseFromString(body)
        except (ValueError, OSError, EOFError, zlib.error, DecodeError) as error:
            # 400 is not retryable for OTLP/HTTP exporters: a bad payload fails once, fast.
            receiver._reject(path, str(error))
            self._answer(400, _status(code_pb2.INVALID_ARGUMENT, str(error)))
            return
        headers = {key.lower(): value for key, value in self.headers.items()}
        receiver._record(Export("http", signal, path, headers, request, body))
        self._answer(200, response_cls().SerializeToString())

    def do_GET(self) -> None:
        self._answer(405, _status(code_pb2.UNIMPLEMENTED, "OTLP/HTTP takes POST"))


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    receiver: HttpReceiver


class HttpReceiver(_Receiver):
    """OTLP/HTTP on ``http://127.0.0.1:<port>``: POST /v1/traces, /v1/metrics, /v1/logs."""

    protocol = "http"

    def __init__(self) -> None:
        super().__init__()
        self._server: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> HttpReceiver:
        server = _HttpServer((HOST, 0), _Handler)
        server.receiver = self
        self._server = server
        self.endpoint = f"http://{HOST}:{server.server_address[1]}"
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="otlp-http-receiver",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(WAIT_SECONDS)
        self._server = None


# -- OTLP/gRPC ------------------------------------------------------------------------


def _servicer(receiver: _Receiver, signal: str, base: type) -> Any:
    _, response_cls = MESSAGES[signal]
    method = GRPC_METHODS[signal]

    class Servicer(base):  # type: ignore[misc, valid-type]
        def Export(self, request: Message, context: grpc.ServicerContext) -> Message:
            headers = {key.lower(): value for key, value in context.invocation_metadata()}
            receiver._record(Export("grpc", signal, method, headers, request, request.SerializeToString()))
            return response_cls()

    return Servicer()


class GrpcReceiver(_Receiver):
    """OTLP/gRPC on ``127.0.0.1:<port>`` (``endpoint`` is ``http://127.0.0.1:<port>``, insecure)."""

    protocol = "grpc"

    def __init__(self) -> None:
        super().__init__()
        self._server: Any = None

    def start(self) -> GrpcReceiver:
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="otlp-grpc-receiver"),
            options=[("grpc.max_receive_message_length", MAX_BODY)],
        )
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(
            _servicer(self, "traces", trace_service_pb2_grpc.TraceServiceServicer), server
        )
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(
            _servicer(self, "metrics", metrics_service_pb2_grpc.MetricsServiceServicer), server
        )
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(
            _servicer(self, "logs", logs_service_pb2_grpc.LogsServiceServicer), server
        )
        port = server.add_insecure_port(f"{HOST}:0")
        if not port:
            raise RuntimeError("OTLP gRPC receiver could not bind a loopback port")
        server.start()
        self._server = server
        self.endpoint = f"http://{HOST}:{port}"
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.stop(grace=0.5).wait(WAIT_SECONDS)
        self._server = None


# -- flattening -------------------------------------------------------------------------


def any_value(value: AnyValue) -> Any:
    """An OTLP ``AnyValue`` as the Python value the SDK was given."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    return getattr(value, kind)


def attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    return {pair.key: any_value(pair.value) for pair in pairs}


def _kind(value: int) -> str:
    return Span.SpanKind.Name(value).removeprefix("SPAN_KIND_")


@dataclass(frozen=True)
class FlatSpan:
    name: str
    kind: str  # "CLIENT", "INTERNAL", ...
    attributes: dict[str, Any]
    resource: dict[str, Any] = field(default_factory=dict)
    scope: str = ""
    status: str = ""  # "UNSET", "OK", "ERROR"
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    start_time_unix_nano: int = 0
    end_time_unix_nano: int = 0


def flat_spans(exports: Iterable[Export]) -> list[FlatSpan]:
    """Every span of these trace exports, in arrival order."""
    spans = []
    for export in exports:
        for resource_spans in getattr(export.request, "resource_spans", ()):
            resource = attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    spans.append(
                        FlatSpan(
                            name=span.name,
                            kind=_kind(span.kind),
                            attributes=attributes(span.attributes),
                            resource=resource,
                            scope=scope_spans.scope.name,
                            status=Status.StatusCode.Name(span.status.code).removeprefix("STATUS_CODE_"),
                            events=[(e.name, attributes(e.attributes)) for e in span.events],
                            start_time_unix_nano=span.start_time_unix_nano,
                            end_time_unix_nano=span.end_time_unix_nano,
                        )
                    )
    return spans


@dataclass(frozen=True)
class FlatPoint:
    """One metric data point; the fields that do not apply to its type stay at their defaults."""

    type: str  # "histogram", "sum", "gauge", "exponential_histogram", "summary"
    attributes: dict[str, Any]
    unit: str = ""
    value: float | int | None = None  # sum / gauge
    count: int = 0  # histograms
    sum: float = 0.0
    bucket_counts: list[int] = field(default_factory=list)
    explicit_bounds: list[float] = field(default_factory=list)
    temporality: str = ""  # "CUMULATIVE" / "DELTA" for sums and histograms
    time_unix_nano: int = 0
    resource: dict[str, Any] = field(default_factory=dict)
    scope: str = ""
    # (trace id, span id) in hex, and the measured value, of each exemplar.
    exemplars: list[tuple[str, str, float]] = field(default_factory=list)


def _exemplar(raw: Any) -> tuple[str, str, float]:
    kind = raw.WhichOneof("value")
    return raw.trace_id.hex(), raw.span_id.hex(), float(getattr(raw, kind)) if kind else 0.0


def _point(
    metric: Any, type_: str, point: Any, temporality: str, resource: dict[str, Any], scope: str
) -> FlatPoint:
    common: dict[str, Any] = {
        "type": type_,
        "attributes": attributes(point.attributes),
        "unit": metric.unit,
        "temporality": temporality,
        "time_unix_nano": point.time_unix_nano,
        "resource": resource,
        "scope": scope,
        "exemplars": [_exemplar(raw) for raw in getattr(point, "exemplars", ())],
    }
    if type_ in ("sum", "gauge"):
        kind = point.WhichOneof("value")
        return FlatPoint(value=getattr(point, kind) if kind else None, **common)
    if type_ == "histogram":
        return FlatPoint(
            count=point.count,
            sum=point.sum,
            bucket_counts=list(point.bucket_counts),
            explicit_bounds=list(point.explicit_bounds),
            **common,
        )
    return FlatPoint(count=point.count, sum=point.sum, **common)


def flat_metrics(exports: Iterable[Export], latest: bool = True) -> dict[str, list[FlatPoint]]:
    """metric name -> data points of these metric exports.

    With ``latest`` (meant for cumulative temporality, the SDK default) only the
    newest point of each attribute set is kept, so repeated periodic exports are
    not counted twice; otherwise every point of every export is returned.
    """
    points: dict[str, dict[Any, FlatPoint]] = {}
    everything: dict[str, list[FlatPoint]] = {}
    for export in exports:
        for resource_metrics in getattr(export.request, "resource_metrics", ()):
            resource = attributes(resource_metrics.resource.attributes)
            for scope_metrics in resource_metrics.scope_metrics:
                scope = scope_metrics.scope.name
                for metric in scope_metrics.metrics:
                    type_ = metric.WhichOneof("data")
                    if type_ is None:
                        continue
                    data = getattr(metric, type_)
                    temporality = ""
                    if hasattr(data, "aggregation_temporality"):
                        temporality = AggregationTemporality.Name(data.aggregation_temporality).removeprefix(
                            "AGGREGATION_TEMPORALITY_"
                        )
                    for raw in data.data_points:
                        flat = _point(metric, type_, raw, temporality, resource, scope)
                        everything.setdefault(metric.name, []).append(flat)
                        key = (scope, tuple(sorted((k, repr(v)) for k, v in flat.attributes.items())))
                        previous = points.setdefault(metric.name, {}).get(key)
                        if previous is None or flat.time_unix_nano >= previous.time_unix_nano:
                            points[metric.name][key] = flat
    if not latest:
        return everything
    return {name: list(by_key.values()) for name, by_key in points.items()}


def resources(exports: Iterable[Export]) -> list[dict[str, Any]]:
    """The resource attributes of every resource in these exports."""
    found = []
    for export in exports:
        for group in ("resource_spans", "resource_metrics", "resource_logs"):
            for item in getattr(export.request, group, ()):
                found.append(attributes(item.resource.attributes))
    return found
