"""The OTLP/HTTP receiver over real HTTP: the standard exporter's requests, forwarding, bad input."""

from __future__ import annotations

import gzip
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pytest_execserver.telemetry.receiver import OtlpError, OtlpReceiver, decode_request, user_collector


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    r = OtlpReceiver()
    r.start()
    yield r
    r.stop()


def finished_spans(service: str = "unit") -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("outer", attributes={"k": "v", "n": 3}), tracer.start_as_current_span("inner"):
        pass
    return list(memory.get_finished_spans())


def export(endpoint: str, spans: list[ReadableSpan]) -> None:
    exporter = OTLPSpanExporter(endpoint=endpoint + "/v1/traces")
    assert exporter.export(spans).name == "SUCCESS"
    exporter.shutdown()  # type: ignore[no-untyped-call]


def test_standard_exporter_spans_arrive_with_ids_parents_and_service(receiver: OtlpReceiver) -> None:
    spans = finished_spans("svc-a")
    export(receiver.endpoint, spans)
    got = {s.name: s for s in receiver.spans()}
    assert set(got) == {"outer", "inner"}
    outer = next(s for s in spans if s.name == "outer")
    assert got["outer"].trace_id == f"{outer.context.trace_id:032x}"
    assert got["inner"].parent_id == got["outer"].span_id
    assert got["outer"].service == "svc-a" and got["outer"].attributes == {"k": "v", "n": 3}
    assert got["outer"].start_ns == outer.start_time and got["outer"].end_ns == outer.end_time


def test_receiver_forwards_to_the_users_collector(receiver: OtlpReceiver) -> None:
    tee = OtlpReceiver(forward=(receiver.endpoint + "/v1/traces", {"x-token": "t"}))
    tee.start()
    try:
        export(tee.endpoint, finished_spans())
        assert tee.forwarded == 1 and not tee.forward_errors
        assert {s.name for s in receiver.spans()} == {"outer", "inner"}
    finally:
        tee.stop()


def test_forward_failure_is_recorded_not_raised(receiver: OtlpReceiver) -> None:
    tee = OtlpReceiver(forward=(receiver.endpoint + "/nowhere", {}))
    tee.start()
    try:
        export(tee.endpoint, finished_spans())
        assert tee.forwarded == 0 and "404" in tee.forward_errors[0]
        assert len(tee.spans()) == 2  # kept for the analysis anyway
    finally:
        tee.stop()


def test_bad_body_is_a_400_with_the_reason(receiver: OtlpReceiver) -> None:
    request = urllib.request.Request(receiver.endpoint + "/v1/traces", data=b"\xff\xff not protobuf",
                                     headers={"Content-Type": "application/x-protobuf"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=5)
    assert info.value.code == 400 and b"cannot decode" in info.value.read()
    assert receiver.spans() == []


def test_decode_json_and_gzip_bodies() -> None:
    message = encode_spans(finished_spans())
    as_json = json_format.MessageToJson(message).encode()
    assert len(decode_request(as_json, "application/json").resource_spans[0].scope_spans[0].spans) == 2
    zipped = gzip.compress(message.SerializeToString())
    assert decode_request(zipped, "application/x-protobuf", "gzip") == message
    with pytest.raises(OtlpError, match="Content-Type"):
        decode_request(b"", "text/plain")
    with pytest.raises(OtlpError, match="gzip"):
        decode_request(b"not gzip", "application/x-protobuf", "gzip")


def test_user_collector_from_the_standard_variables() -> None:
    assert user_collector({}) is None
    assert user_collector({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/"}) == ("http://c:4318/v1/traces", {})
    traces = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t/x",
              "OTEL_EXPORTER_OTLP_HEADERS": "a=1, b = 2"}
    assert user_collector(traces) == ("http://t/x", {"a": "1", "b": "2"})
    grpc = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    assert user_collector(grpc) is None
    assert user_collector({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_SDK_DISABLED": "true"}) is None
