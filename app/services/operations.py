"""What each operation does and takes, as /v1/text_processing/operations lists it."""

from __future__ import annotations

from typing import Any

from app.cache.keys import ttl_for

OPERATION_INFO: list[dict[str, Any]] = [
    {"id": "summarize", "name": "Summarize", "description": "A short summary of the text.",
     "options": {"max_length": "words, 10..500 (default 100)"}, "requires_question": False},
    {"id": "sentiment", "name": "Sentiment", "description": "Positive, negative or neutral, with confidence.",
     "options": {}, "requires_question": False},
    {"id": "key_points", "name": "Key points", "description": "The main points of the text.",
     "options": {"max_points": "1..20 (default 5)"}, "requires_question": False},
    {"id": "questions", "name": "Questions", "description": "Questions the text raises.",
     "options": {"num_questions": "1..20 (default 5)"}, "requires_question": False},
    {"id": "qa", "name": "Question answering", "description": "Answers a question from the text.",
     "options": {}, "requires_question": True},
]
for _info in OPERATION_INFO:
    _info["cache_ttl_seconds"] = ttl_for(_info["id"])
