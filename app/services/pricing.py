"""What an LLM call cost: the operator's per-model price table applied to the tokens the provider
reported. Estimated counts (``LLM_ESTIMATE_TOKENS``) are never priced: a bill is not a guess."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from app.services.llm.base import Usage


class Price(Protocol):
    """A model's price (``app.settings.ModelPrice`` is one): USD per million tokens."""

    @property
    def input_per_million(self) -> float: ...

    @property
    def output_per_million(self) -> float: ...


def cost(prices: Mapping[str, Price], models: Iterable[str | None], usage: Usage | None) -> dict[str, float]:
    """USD per token type ("input", "output") of the reported counts, priced at the first of
    ``models`` (the response's model, then the requested one) that has a price; {} when none has."""
    price = next((prices[m] for m in models if m and m in prices), None)
    if price is None or usage is None:
        return {}
    spent: dict[str, float] = {}
    for token_type, count, per_million in (("input", usage.input_tokens, price.input_per_million),
                                           ("output", usage.output_tokens, price.output_per_million)):
        if count is not None and token_type not in usage.estimated:
            spent[token_type] = count * per_million / 1e6
    return spent
