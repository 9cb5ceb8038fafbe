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
    host, port, level = settings.host, settings.port, settings.log_level.lower()
    # The access line is the app's own (instrumentation/access.py): inside the request's span, with its ids.
    if settings.workers > 1:  # each worker process builds its app, re-reading the settings from the environment
        uvicorn.run("app.main:create_app", factory=True, workers=settings.workers, host=host, port=port,
                    log_level=level, access_log=False)
        return
    from app.main import create_app

    uvicorn.run(create_app(settings), host=host, port=port, log_level=level, access_log=False)


if __name__ == "__main__":
    main()
