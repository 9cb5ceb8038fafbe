"""``python -m app`` / ``llm-service``: validate the settings, then serve with uvicorn."""

from __future__ import annotations

import sys

import uvicorn
from pydantic import ValidationError

from app.settings import Settings


def main() -> None:
    try:
        settings = Settings()
    except ValidationError as exc:
        lines = [f"  {'.'.join(str(p) for p in e['loc']).upper() or 'SETTINGS'}: {e['msg']}" for e in exc.errors()]
        print("invalid configuration, the service did not start:\n" + "\n".join(lines), file=sys.stderr)
        raise SystemExit(2) from None
    from app.main import create_app

    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=settings.log_level.lower())


if __name__ == "__main__":
    main()
