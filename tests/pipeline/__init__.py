"""Pipeline tests: OpenTelemetry SDK -> real Collector -> real Prometheus (marker `pipeline`)."""
