"""Cost: reported tokens at the operator's prices, counted, measured as a spend rate, judged by a KPI."""

from __future__ import annotations

import pytest

from app.monitoring.alerts import breaches
from app.monitoring.kpis import build_catalog
from app.monitoring.measurements import measure
from app.monitoring.windows import Window
from app.services.genai import GenAIClient
from app.services.llm.base import Endpoint, LLMOutput, LLMRequest, Usage
from app.services.llm.limiter import ConcurrencyLimiter
from app.services.pricing import cost
from app.settings import ModelPrice as Price
from instrumentation import Telemetry
from instrumentation.instruments import GENAI_COST

PRICES = {"gpt-test": Price(input_per_million=2.0, output_per_million=8.0)}


class Vendor:
    name = "openai"
    model = "gpt-test"
    endpoint = Endpoint("llm.example.test", 443)

    def __init__(self, usage: Usage, model: str = "gpt-test-0613") -> None:
        self.usage, self.response_model = usage, model

    async def run(self, request: LLMRequest) -> LLMOutput:
        return LLMOutput(usage=self.usage, model=self.response_model, result="ok")

    async def aclose(self) -> None:
        return None


def test_reported_tokens_are_priced_per_million() -> None:
    assert cost(PRICES, ("gpt-test",), Usage(1_000, 500)) == pytest.approx({"input": 0.002, "output": 0.004})


def test_estimates_are_never_priced_and_unknown_models_cost_nothing_known() -> None:
    assert cost(PRICES, ("gpt-test",), Usage(1_000, 500, estimated=("output",))) == pytest.approx({"input": 0.002})
    assert cost(PRICES, ("other",), Usage(1_000, 500)) == {}
    assert cost(PRICES, ("gpt-test",), Usage()) == {}


def test_the_response_model_is_priced_before_the_requested_one() -> None:
    prices = {**PRICES, "gpt-test-0613": Price(input_per_million=1.0, output_per_million=1.0)}
    assert cost(prices, ("gpt-test-0613", "gpt-test"), Usage(1_000_000, 0)) == pytest.approx(
        {"input": 1.0, "output": 0.0})


async def test_each_call_adds_its_cost_and_the_spend_rate_breaches_the_budget(telemetry: Telemetry) -> None:
    old = telemetry.reader.snapshot(0.0)
    llm = GenAIClient(Vendor(Usage(100_000, 20_000)), telemetry.tracer_provider.get_tracer("test"),  # type: ignore[arg-type]
                      telemetry.instruments, ConcurrencyLimiter(4, 0.0, telemetry.instruments), prices=PRICES)
    for _ in range(3):
        await llm.run(LLMRequest("summarize", "text"))
    new = telemetry.reader.snapshot(300.0)
    by_type = {dict(a)["gen_ai.token.type"]: v for a, v in new.series(GENAI_COST).items()}
    assert by_type == pytest.approx({"input": 0.6, "output": 0.48})  # 3 x (0.2 + 0.16)
    m = measure(Window(old, new))
    assert m.ai_cost_usd == pytest.approx(1.08)
    assert m.ai_spend_usd_per_hour == pytest.approx(1.08 / 300 * 3600)  # 12.96 USD/h
    assert "AiSpendHigh" in [k.name for k, _v in breaches(build_catalog(ai_budget_usd_per_hour=10.0), m)]
    assert "AiSpendHigh" not in [k.name for k, _v in breaches(build_catalog(ai_budget_usd_per_hour=20.0), m)]
