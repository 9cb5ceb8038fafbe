"""Every name the service emits is the conventions' or the project's own (``llm_obs.*``): no
instrument, metric attribute or span attribute squats a namespace the conventions own (``app.*``)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from app.main import create_app, telemetry_config
from instrumentation import build_telemetry
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers.processes import RedisServer
from tests.helpers.semconv import PROJECT, semconv_names
from tests.integration.conftest import LOCAL, make_settings

TEXT = "Names are a contract. Dashboards and rules query them. A rename breaks every panel at once."


def test_every_emitted_name_is_in_the_conventions_or_the_projects_namespace(redis_server: RedisServer) -> None:
    known = semconv_names()
    assert {"gen_ai.usage.input_tokens", "http.server.request.duration", "db.operation.name"} <= known
    exporter = InMemorySpanExporter()
    with FakeOpenAI() as fake:
        settings = make_settings(redis_url=redis_server.url, llm_provider="openai", llm_base_url=fake.base_url,
                                 llm_api_key="sk-test", llm_prices={"test-model": {"input_per_million": 1,
                                                                                   "output_per_million": 2}},
                                 llm_model="test-model")
        config = telemetry_config(settings)
        telemetry = build_telemetry(type(config)(**{**config.__dict__, "extra_span_exporters": (exporter,)}))
        with TestClient(create_app(settings, telemetry), client=(LOCAL, 50000)) as client:
            for op in ("summarize", "sentiment"):
                body = {"text": TEXT, "operation": op}
                assert client.post("/v1/text_processing/process", json=body).status_code == 200
                assert client.post("/v1/text_processing/process", json=body).status_code == 200  # a hit
            streamed = {"text": TEXT + " streamed", "operation": "key_points", "stream": True}
            assert "event: result" in client.post("/v1/text_processing/process", json=streamed).text
            fake.fail_next(2, "error500")
            client.post("/v1/text_processing/process", json={"text": TEXT + " again", "operation": "qa",
                                                              "question": "What breaks?"})
            assert client.get("/internal/monitoring/alerts").status_code == 200
            snapshot = telemetry.reader.snapshot()
    emitted: dict[str, str] = {}
    for name in snapshot.meta:
        emitted[name] = "instrument"
        for attrs in list(snapshot.series(name)) + list(snapshot.histogram_series(name)):
            for key, _value in attrs:
                emitted[key] = f"attribute of {name}"
    for span in exporter.get_finished_spans():
        for key in span.attributes or {}:
            emitted.setdefault(key, f"attribute of span {span.name!r}")
    assert len(emitted) > 30
    assert {"gen_ai.request.stream", "gen_ai.response.time_to_first_chunk",
            "gen_ai.client.operation.time_to_first_chunk"} <= set(emitted)  # the streamed call's names too
    strangers = {k: where for k, where in emitted.items() if k not in known and not k.startswith(PROJECT)}
    assert not strangers, f"neither in the semantic conventions nor under {PROJECT}*: {strangers}"
