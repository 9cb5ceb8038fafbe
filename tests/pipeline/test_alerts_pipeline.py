"""Errors from the LLM provider -> 5xx answers -> a Prometheus alert fires -> Alertmanager delivers it to
a webhook; and the service's in-process verdict (/internal/monitoring/alerts) names the same alerts.

The stack is this test's own (Collector, Prometheus, Alertmanager): the rules sum over every series in
Prometheus, so another test's healthy traffic would dilute the error rate.

Shortened for the test, stated here: Prometheus loads a COPY of collector/prometheus/rules/kpi-alerts.yml
with every `for:` set to 0s and the group interval 5s instead of 15s; the exprs are identical (asserted).
The in-process engine has no `for:` (an alert is active while its KPI is breached), so with `for: 0s`
Prometheus' *firing* set is the one to compare it with.
"""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml

from tests.fakes.openai_server import FakeOpenAI
from tests.helpers.processes import LiveService, RedisServer
from tests.helpers.webhook_receiver import WebhookReceiver

from .rules import RULES_FILE, fast_rules_copy, load_rules, prometheus_firing
from .stack import SETUP_TIMEOUT, Stack, TrafficLoop, poll, service_env

pytestmark = [pytest.mark.pipeline, pytest.mark.timeout(SETUP_TIMEOUT + 300)]

EXPECTED = {"ApiErrorRateCritical", "ApiErrorRateHigh", "CircuitBreakerOpen"}


def in_process(service: LiveService) -> set[str]:
    body = httpx.get(f"{service.url}/internal/monitoring/alerts", timeout=10).json()
    return {a["name"] for a in body["alerts"]}


def delivered(receiver: WebhookReceiver) -> set[str]:
    """Alert names that Alertmanager POSTed as firing (its webhook payload, version 4)."""
    names: set[str] = set()
    for received in list(receiver.received):
        body = received.json
        names |= {a["labels"]["alertname"] for a in body.get("alerts", []) if a.get("status") == "firing"}
    return names


def test_provider_errors_fire_an_alert_that_alertmanager_delivers_and_verdicts_agree(
        new_stack: Callable[..., Stack], redis_server: RedisServer) -> None:
    """A healthy start that fills the cache, then the provider answers 500 to everything: new texts get
    502/503 (retries, then the open breaker), cached ones are still served (200 from the cache)."""
    receiver = WebhookReceiver().start()
    try:
        stack = new_stack(alertmanager=True, alert_webhook=receiver.url, operator_key="ops-key-for-alertmanager")
        load_rules(stack, fast_rules_copy(stack.run_dir / "rules-fast"))
        with FakeOpenAI() as fake:
            service = LiveService(service_env(
                stack, redis_server.url, f"pipeline-alerts-{uuid.uuid4().hex[:8]}",
                LLM_PROVIDER="openai", LLM_BASE_URL=fake.base_url, LLM_API_KEY="sk-test",
                RESILIENCE_PRESET="development", RESILIENCE_BASE_DELAY_SECONDS="0",
                # The breaker stays open for the whole test (the preset's 30 s would make it flap
                # open/half-open, and the two verdicts would be compared across a flip).
                RESILIENCE_RECOVERY_TIMEOUT_SECONDS="600")).start()
            try:
                run = uuid.uuid4().hex[:6]
                cached = [f"Cached text {n} of run {run}: answered before the provider went down." for n in range(8)]
                with httpx.Client(base_url=service.url, timeout=30) as client:
                    for text in cached * 2:  # miss, then hit
                        resp = client.post("/v1/text_processing/process", json={"text": text, "operation": "summarize"})
                        assert resp.status_code == 200, resp.text
                fake.mode = "error500"

                def body(i: int) -> dict[str, str]:
                    text = cached[(i // 2) % len(cached)] if i % 2 == 0 else f"New text {i} of run {run}, uncached."
                    return {"text": text, "operation": "summarize"}

                with TrafficLoop(service.url, body, interval=0.25) as loop:
                    # Prometheus fires (5xx rate over 5m, at least 10 requests) ...
                    firing = poll(lambda: prometheus_firing(stack) & EXPECTED, "a KPI alert firing in Prometheus",
                                  timeout=90)
                    # ... and the in-process engine, over the same traffic, names the same alerts.
                    seen: list[tuple[set[str], set[str]]] = []

                    def agree() -> set[str]:
                        prom, local = prometheus_firing(stack), in_process(service)
                        seen.append((prom, local))
                        return prom if prom == local and prom & EXPECTED else set()

                    try:
                        agreed = poll(agree, "the in-process verdict to equal Prometheus' firing alerts", timeout=60)
                    finally:
                        print("(prometheus, in-process) last seen:", seen[-2:])
                    # Alertmanager delivers (critical: group_wait 5 s) to the webhook receiver.
                    sent = poll(lambda: delivered(receiver) & EXPECTED, "Alertmanager to POST a firing alert",
                                timeout=60)
                statuses = set(loop.statuses)
            finally:
                service.stop()
        # provider errors (502), the open breaker (503), cached answers (200)
        assert statuses == {200, 502, 503}, statuses
        assert firing <= agreed | prometheus_firing(stack)
        # The receiver is under /internal: Alertmanager carries the operator key it was given.
        assert {r.headers.get("authorization") for r in receiver.received} == {"Bearer ops-key-for-alertmanager"}
        payload = receiver.received[0].json
        assert payload["receiver"] == "llm-service" and payload["status"] == "firing"
        print(f"firing in Prometheus and in-process: {sorted(agreed)}; delivered by Alertmanager: {sorted(sent)}")

        # The ALERTS series now exists, and the System Health panels show the critical alert.
        critical = stack.query('count(ALERTS{alertstate="firing",severity="critical"}) or vector(0)')
        assert float(critical[0]["value"][1]) >= 1
        assert stack.query('sum by (severity) (ALERTS{alertstate="firing"}) or on() vector(0)')
    finally:
        receiver.stop()


def cache_all_misses_test(rules_file: Path) -> str:
    """A promtool rule test: 40 cache lookups in 5 minutes, all misses (0 % hits), which the in-process
    engine reports as CacheHitRatioLow (its unit tests cover that side)."""
    rule = next(r for g in yaml.safe_load(rules_file.read_text())["groups"] for r in g["rules"]
                if r["alert"] == "CacheHitRatioLow")
    annotations = {k: re.sub(r"\{\{[^}]*\}\}", "0.00", v) for k, v in rule["annotations"].items()}
    return yaml.safe_dump({
        "rule_files": [str(rules_file)],
        "evaluation_interval": "15s",
        "tests": [{
            "interval": "15s",
            "input_series": [{"series": 'llm_obs_cache_lookups_total{llm_obs_cache_result="miss",job="svc"}',
                              "values": "0+2x40"}],
            "alert_rule_test": [{"eval_time": "10m", "alertname": "CacheHitRatioLow",
                                 "exp_alerts": [{"exp_labels": rule["labels"], "exp_annotations": annotations}]}],
        }],
    }, sort_keys=False)


def test_cache_hit_ratio_rule_fires_when_every_lookup_misses(tmp_path: Path) -> None:
    """The real rules, evaluated by the real Prometheus engine (promtool test rules)."""
    test_file = tmp_path / "all-misses.test.yml"
    test_file.write_text(cache_all_misses_test(RULES_FILE))
    proc = subprocess.run(["promtool", "test", "rules", str(test_file)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
