#!/usr/bin/env bash
# Run the GATEWAY tier of the two-tier stack: the project's Collector with tail sampling
# (collector/otelcol/gateway.yaml + gateway-policies.yaml), between the agent (scripts/collector.sh
# with OTELCOL_TIER=agent) and Jaeger. scripts/collector.sh does the work; this gives the gateway its
# own ports and run dir so it runs next to the agent.
#
#   scripts/gateway.sh start|stop|status
#
# Env overrides (defaults in brackets): RUN_DIR [/tmp/llm-obs-run] (pid and log in $RUN_DIR/gateway/),
#   GATEWAY_OTLP_GRPC_PORT [4327] (what the agent sends to) GATEWAY_OTLP_HTTP_PORT [4328]
#   GATEWAY_HEALTH_PORT [13143] GATEWAY_METRICS_PORT [8898] (its own metrics; not scraped yet)
#   GATEWAY_QUEUE_DIR [$RUN_DIR/gateway/queue] its persistent export queue (never the agent's)
#   JAEGER_OTLP_GRPC_PORT [14317] (where kept traces go)
#   TAIL_SAMPLING_PERCENTAGE [10]       share of the traces that are neither errors nor slow, in percent
#   TAIL_SAMPLING_DECISION_WAIT [10s]   how long a trace is held before its decision
#   TAIL_SAMPLING_NUM_TRACES [50000]    traces held at once (the memory bound)
#   TAIL_SAMPLING_DECISION_CACHE [500000] decisions remembered for late spans (trace ids)
set -euo pipefail

OTELCOL_TIER=gateway \
  OTLP_GRPC_PORT=${GATEWAY_OTLP_GRPC_PORT:-4327} \
  OTLP_HTTP_PORT=${GATEWAY_OTLP_HTTP_PORT:-4328} \
  OTELCOL_HEALTH_PORT=${GATEWAY_HEALTH_PORT:-13143} \
  OTELCOL_METRICS_PORT=${GATEWAY_METRICS_PORT:-8898} \
  OTELCOL_QUEUE_DIR=${GATEWAY_QUEUE_DIR:-${RUN_DIR:-/tmp/llm-obs-run}/gateway/queue} \
  exec "$(dirname "${BASH_SOURCE[0]}")/collector.sh" "$@"
