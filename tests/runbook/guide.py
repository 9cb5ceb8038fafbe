"""The operations guide's shell commands, extracted from the guide file itself.

Blocks that are whole scripts (``#!/bin/bash``) are run whole; other blocks are split into commands
(continuation lines joined, comments dropped). Nothing is rewritten but the host:port.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED_GUIDE = ROOT.parent / "shared" / "spec" / "operational-monitoring-guide.md"
VENDORED_GUIDE = ROOT / "docs" / "operational-monitoring-guide.md"
GUIDE_HOST = "http://localhost:8000"

_BLOCK = re.compile(r"```bash\n(.*?)```", re.S)


@dataclass(frozen=True)
class Command:
    text: str  # as written in the guide
    block: int

    @property
    def reads_with_jq(self) -> bool:
        return "| jq" in self.text or self.text.startswith("jq ")

    def request(self) -> tuple[str, str, str | None] | None:
        """(method, URL, body) of the curl in this command, for checking the HTTP status."""
        inner = self.text
        watched = re.match(r"watch -n \d+ '(.*)'$", inner)
        if watched:
            inner = watched.group(1)
        if "curl" not in inner:
            return None
        words = shlex.split(inner.split("|")[0].split(">")[0].replace("$(", " ").replace(")", " "))
        words = words[words.index("curl"):]
        method, body, url = "GET", None, None
        for i, word in enumerate(words):
            if word == "-X":
                method = words[i + 1]
            elif word == "-d":
                body = words[i + 1]
            elif word.startswith("http"):
                url = word
        if body is not None and method == "GET":
            method = "POST"
        return (method, url, body) if url else None


@dataclass(frozen=True)
class Script:
    text: str
    block: int


def guide_text() -> str:
    return (SHARED_GUIDE if SHARED_GUIDE.exists() else VENDORED_GUIDE).read_text()


def parse(text: str) -> tuple[list[Command], list[Script]]:
    commands: list[Command] = []
    scripts: list[Script] = []
    for index, block in enumerate(_BLOCK.findall(text)):
        if block.lstrip().startswith("#!/bin/bash"):
            scripts.append(Script(block, index))
            continue
        pending = ""
        for raw in block.splitlines():
            line = raw.strip()
            if pending:
                line = pending + " " + line
                pending = ""
            if line.endswith("\\"):
                pending = line[:-1].rstrip()
                continue
            if line and not line.startswith("#"):
                commands.append(Command(line, index))
    return commands, scripts
