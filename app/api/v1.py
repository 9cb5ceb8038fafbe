"""/v1: text processing."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.api.deps import ApiKeyDep, ServicesDep
from app.api.schemas import BatchRequest, BatchResponse, ProcessRequest, ProcessResponse
from app.services.operations import OPERATION_INFO

router = APIRouter(prefix="/v1/text_processing", tags=["text processing"], dependencies=[ApiKeyDep])


@router.get("/operations")
async def operations() -> dict[str, Any]:
    return {"operations": OPERATION_INFO}


@router.post("/process", response_model=ProcessResponse, response_model_exclude_none=True)
async def process(body: ProcessRequest, services: ServicesDep) -> ProcessResponse:
    return await services.processor.process(body)


@router.post("/batch_process", response_model=BatchResponse, response_model_exclude_none=True)
async def batch_process(body: BatchRequest, services: ServicesDep) -> BatchResponse:
    return await services.processor.process_batch(body)
