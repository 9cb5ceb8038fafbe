"""The guide's cache commands, run as written with real curl (only host:port is the test server's):
analysis and recommendations, cleanup, clear, and the maintenance backup saved to a file and restored."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.helpers.processes import LiveService

TEXT = "Runbooks are read at three in the morning. Keep them short. Text {i}."


def sh(command: str, cwd: Path | None = None) -> str:
    done = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True,
                          timeout=30, cwd=cwd)
    assert done.returncode == 0, f"{command}: {done.stderr}"
    return done.stdout


def process(service: LiveService, i: int) -> dict[str, Any]:
    payload = json.dumps({"text": TEXT.format(i=i), "operation": "summarize"})
    return dict(json.loads(sh(f"curl -sf -X POST {service.url}/v1/text_processing/process "
                              f"-H 'Content-Type: application/json' -d '{payload}'")))


def test_analysis_and_recommendations_as_written(service: LiveService) -> None:
    for i in range(3):
        process(service, i)
        process(service, i)
    analysis = json.loads(sh(f"curl -s {service.url}/internal/cache/performance-analysis"))
    assert analysis["by_operation"]["summarize"]["hits"] >= 3
    assert analysis["redis"]["available"] is True
    recommendations = json.loads(sh(f"curl -s {service.url}/internal/cache/optimization-recommendations"))
    assert isinstance(recommendations["recommendations"], list) and recommendations["note"]


def test_cleanup_as_written(service: LiveService) -> None:
    out = sh(f"curl -X POST {service.url}/internal/cache/cleanup")
    report = json.loads(out)
    assert report["expired_entries_removed"] == 0 and report["memory_after"]["entries"] >= 0


def test_backup_to_a_file_clear_then_restore(service: LiveService, tmp_path: Path) -> None:
    for i in range(10, 14):
        process(service, i)
    sh(f"curl -s {service.url}/internal/cache/backup > cache_backup.json", cwd=tmp_path)
    saved = json.loads((tmp_path / "cache_backup.json").read_text())
    keys = {e["key"] for e in saved["entries"]}
    assert saved["version"] == 1 and len(keys) >= 4

    cleared = json.loads(sh(f"curl -X POST {service.url}/internal/cache/clear"))
    assert cleared["cleared"]["redis"] == len(keys) and cleared["redis"] == "ok"
    assert json.loads(sh(f"curl -s {service.url}/internal/cache/backup"))["counts"]["total"] == 0

    restored = json.loads(sh(f"curl -s -X POST {service.url}/internal/cache/restore "
                             "-H 'Content-Type: application/json' --data-binary @cache_backup.json", cwd=tmp_path))
    assert restored["restored"] == len(keys) and restored["skipped"] == 0
    assert process(service, 12)["cache_hit"] is True


def test_restore_of_a_broken_file_is_a_422(service: LiveService, tmp_path: Path) -> None:
    (tmp_path / "cache_backup.json").write_text('{"version": 1, "entries": [')
    code = sh(f"curl -s -o /dev/null -w '%{{http_code}}' -X POST {service.url}/internal/cache/restore "
              "-H 'Content-Type: application/json' --data-binary @cache_backup.json", cwd=tmp_path)
    assert code == "422"
