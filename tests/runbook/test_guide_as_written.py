"""Every command of the operations guide, read from the guide file itself and run as written with real
curl and jq against a running service (only ``localhost:8000`` becomes the test server's address).

A command fails the test on an HTTP error, a body that is not JSON where JSON is expected, a jq error,
or ``null`` where the guide reads a field. The guide's whole scripts run whole.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.settings import Settings
from tests.helpers.processes import LiveService
from tests.helpers.webhook_receiver import WebhookReceiver
from tests.runbook.guide import GUIDE_HOST, ROOT, SHARED_GUIDE, VENDORED_GUIDE, Command, guide_text, parse

COMMANDS, SCRIPTS = parse(guide_text())
PLACEHOLDER = "{name}"  # the guide's reset command names no breaker
# Not about this service: restarting containers, and the frontend (tested in tests/frontend).
NOT_OURS = ("docker-compose ", "curl http://localhost:8501/")


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    webhook = WebhookReceiver().start()
    yield webhook
    webhook.stop()


@pytest.fixture(scope="module")
def guide_service(live_redis: str, receiver: WebhookReceiver) -> Iterator[LiveService]:
    for tool in ("curl", "jq"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is needed to run the guide's commands as written")
    live = LiveService({"REDIS_URL": live_redis, "METRICS_EXPORT_INTERVAL": "1",
                        "MONITORING_WEBHOOK_URL": receiver.url}).start()
    for i in range(8):  # some traffic, so every window has something to say
        payload = {"text": f"The guide's commands run as written. Round {i % 4}.", "operation": "summarize"}
        httpx.post(f"{live.url}/v1/text_processing/process", json=payload, timeout=10).raise_for_status()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the guide's commands run: it has the curl-format.txt the first command reads."""
    path = tmp_path_factory.mktemp("guide")
    shutil.copy(ROOT / "curl-format.txt", path / "curl-format.txt")
    return path


def as_here(text: str, service: LiveService) -> str:
    return text.replace(GUIDE_HOST, service.url).replace(PLACEHOLDER, "ai_service")


def run(text: str, cwd: Path, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", text], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def check_status(command: Command, service: LiveService) -> None:
    request = command.request()
    if request is None:
        return
    method, url, body = request
    response = httpx.request(method, as_here(url, service), content=body, timeout=30)
    assert response.status_code < 400, f"{command.text}: HTTP {response.status_code} {response.text[:300]}"


def check_output(command: Command, stdout: str) -> None:
    text = command.text
    if command.reads_with_jq:  # each value jq printed is what the guide reads: none may be null
        for value in json_values(stdout):
            assert value is not None, f"{text}: jq read null\n{stdout[:500]}"
        return
    if ">" in text or not text.startswith("curl"):
        return
    if "format=prometheus" in text:
        assert "# TYPE " in stdout, f"{text}: not a Prometheus exposition"
        return
    try:
        values = json_values(stdout, trailing_text="curl-format.txt" in text)  # -w prints after the body
    except json.JSONDecodeError as exc:
        raise AssertionError(f"{text}: not JSON ({exc}): {stdout[:300]}") from exc
    assert values, f"{text}: empty body"


def json_values(text: str, trailing_text: bool = False) -> list[Any]:
    """The JSON values in ``text``, one after another (what jq prints), optionally before other text."""
    decoder, values, index = json.JSONDecoder(), [], 0
    while index < len(text.rstrip()):
        while text[index].isspace():
            index += 1
        value, index = decoder.raw_decode(text, index)
        values.append(value)
        if trailing_text:
            break
    return values


def runnable(command: Command) -> bool:
    return not command.text.startswith(("export ", *NOT_OURS))


def test_the_guide_has_the_commands_we_run() -> None:
    assert len([c for c in COMMANDS if runnable(c)]) == 54  # a guide that grows needs a look here
    assert len(SCRIPTS) == 3
    if SHARED_GUIDE.exists():  # the vendored copy in docs/ is the guide itself
        assert VENDORED_GUIDE.read_text() == SHARED_GUIDE.read_text()


def test_every_command_as_written(guide_service: LiveService, workdir: Path, receiver: WebhookReceiver) -> None:
    failures: list[str] = []
    for command in [c for c in COMMANDS if runnable(c)]:
        text = command.text
        watched = text.startswith("watch ")
        to_run = text.split("'", 1)[1].rsplit("'", 1)[0] if watched else text  # `watch` runs it once here
        done = run(as_here(to_run, guide_service), workdir)
        try:
            assert done.returncode == 0, f"{text}: exit {done.returncode}: {done.stderr[:300]}"
            check_output(command, done.stdout)
            check_status(command, guide_service)
        except AssertionError as exc:
            failures.append(str(exc))
    assert not failures, "\n\n".join(failures)
    assert receiver.events("webhook.test"), "test-webhook sent nothing to MONITORING_WEBHOOK_URL"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda s: s.text.splitlines()[1].lstrip("# "))
def test_scripts_as_written(guide_service: LiveService, workdir: Path, script: Any) -> None:
    text = as_here(script.text, guide_service)
    endless = "while true" in text
    # The continuous monitor loops forever by design: one round, then stop it.
    done = run(f"timeout 5 bash -c {json.dumps(text)}" if endless else text, workdir)
    assert done.returncode in ((0, 124) if endless else (0,)), done.stderr[:500]
    output = done.stdout
    assert "null" not in output.split() and ": null" not in output and "%, Error rate: null" not in output
    assert "❌" not in output and "parse error" not in done.stderr, output + done.stderr


@pytest.mark.parametrize("block", sorted({c.block for c in COMMANDS if c.text.startswith("export ")}))
def test_environment_blocks_are_accepted(block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    for command in [c for c in COMMANDS if c.block == block and c.text.startswith("export ")]:
        name, _, value = command.text.removeprefix("export ").partition("=")
        monkeypatch.setenv(name, value)
    Settings(_env_file=None)  # type: ignore[call-arg]
