"""The `sre-ai-platform` console script: the same server as `uvicorn app.main:app`."""

from __future__ import annotations

import argparse

import uvicorn


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="sre-ai-platform", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--workers", type=int, default=1,
                        help="worker processes; >1 needs SRE_AI_REDIS_URL for a shared ledger")
    args = parser.parse_args(argv)
    uvicorn.run("app.main:create_app", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_config=None, access_log=False,
                timeout_graceful_shutdown=60)


if __name__ == "__main__":
    main()
