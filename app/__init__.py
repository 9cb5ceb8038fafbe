"""An OpenTelemetry-instrumented FastAPI service for LLM text processing."""
