"""``llm-ops``: the operations guide's shell scripts (daily check, weekly review, continuous monitor,
performance baseline) as one command-line tool with exit codes a cron job can act on."""

from app.ops.checks import EXIT_UNREACHABLE, Check, Report
from app.ops.client import Answer, OpsClient, Unreachable

__all__ = ["EXIT_UNREACHABLE", "Answer", "Check", "OpsClient", "Report", "Unreachable"]
