"""A live service (uvicorn subprocess, as `make run` starts it) on a real Redis, for curl and jq."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.helpers.processes import LiveService


@pytest.fixture(scope="module")
def service(live_redis: str) -> Iterator[LiveService]:
    for tool in ("curl", "jq"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is needed to run the guide's commands as written")
    live = LiveService({"REDIS_URL": live_redis, "METRICS_EXPORT_INTERVAL": "1"}).start()
    yield live
    live.stop()
