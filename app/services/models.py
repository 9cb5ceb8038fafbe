"""What the text processor takes and answers, which are also the bodies of /v1 (with the template's field
names): the domain's models, beside the services that use them; HTTP imports them from here."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator

from app.cache.answer import SentimentOut  # the answer's own: a cached sentiment is taken as it is
from app.services.llm.base import OPERATIONS, Operation

MAX_TEXT = 10_000
MAX_BATCH = 50


class _Request(BaseModel):
    text: str = Field(min_length=10, max_length=MAX_TEXT, description="Text to process, 10 to 10000 characters.")
    options: dict[str, Any] = Field(default_factory=dict, max_length=20, description="At most 20 entries.")
    stream: bool = Field(default=False, strict=True, description=(
        "process: answer as server-sent events (chunk events, then the result event). Ignored in a batch."))


class QuestionRequest(_Request):
    """``qa``: a question about the text, which must say something (not only spaces)."""

    operation: Literal["qa"]
    question: str = Field(min_length=1, max_length=1000, json_schema_extra={"pattern": r"\S"})

    @field_validator("question")
    @classmethod
    def _says_something(cls, question: str) -> str:
        # The schema says it as a pattern; this says it in words.
        if not question.strip():
            raise ValueError("operation 'qa' needs a non-empty 'question'")
        return question


class TextRequest(_Request):
    operation: Literal["summarize", "sentiment", "key_points", "questions"]
    question: str | None = Field(default=None, min_length=1, max_length=1000, description="Ignored: only qa reads it.")


# One schema per rule: OpenAPI shows a oneOf with a discriminator, so clients and fuzzers know that qa
# needs a question. The union's tag appears in validation locations; errors.py leaves it out of them.
ProcessRequest = Annotated[QuestionRequest | TextRequest, Field(discriminator="operation")]
UNION_TAGS = frozenset(OPERATIONS)


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
