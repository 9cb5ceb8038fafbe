"""The Streamlit frontend of the LLM text-processing service (see frontend/README.md).

Only ``views`` imports Streamlit; ``settings``, ``telemetry``, ``backend`` and ``grafana`` are plain
Python, so they are tested without it.
"""
