"""Request and response bodies of /v1, with the template's field names."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from app.cache.answer import SentimentOut  # the answer's own: a cached sentiment is taken as it is
from app.services.llm.base import Operation

MAX_TEXT = 10_000
MAX_BATCH = 50


class ProcessRequest(BaseModel):
    text: str = Field(min_length=10, max_length=MAX_TEXT, description="Text to process, 10 to 10000 characters.")
    operation: Operation
    question: str | None = Field(default=None, min_length=1, max_length=1000)
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _question_for_qa(self) -> ProcessRequest:
        if self.operation == "qa" and not (self.question and self.question.strip()):
            raise ValueError("operation 'qa' needs a non-empty 'question'")
        if len(self.options) > 20:
            raise ValueError("'options' takes at most 20 entries")
        return self


class ProcessResponse(BaseModel):
    operation: Operation
    success: bool = True
    result: str | None = None
    sentiment: SentimentOut | None = None
    key_points: list[str] | None = None
    questions: list[str] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    processing_time: float = Field(description="Seconds spent serving this request.")
    timestamp: str
    cache_hit: bool = False


class BatchRequest(BaseModel):
    requests: list[ProcessRequest] = Field(min_length=1, max_length=MAX_BATCH)
    batch_id: str | None = Field(default=None, max_length=100)


class BatchItem(BaseModel):
    request_index: int
    status: Literal["completed", "failed"]
    response: ProcessResponse | None = None
    error: str | None = None


class BatchResponse(BaseModel):
    batch_id: str
    total_requests: int
    completed: int
    failed: int
    results: list[BatchItem]
    total_processing_time: float
