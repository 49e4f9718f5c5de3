"""The ``cvstudio`` command: ``cvstudio serve --host H --port P --data-dir D``."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from shared.api.app import create_app
    from shared.bootstrap import build_services
    from shared.settings import Settings

    overrides: dict[str, object] = {}
    if args.data_dir is not None:
        overrides["data_dir"] = Path(args.data_dir)
    settings = Settings(**overrides)  # type: ignore[arg-type]
    services = build_services(settings)
    app = create_app(services)
    base = f"http://{args.host}:{args.port}"
    where = (
        "kept in " + str(settings.data_dir / "keys.json")
        if services.keys.generated
        else "from the environment"
    )
    print(
        f"cvstudio is serving the Custom Vision API at {base}\n"
        f"  data dir:        {settings.data_dir.resolve()}\n"
        f"  endpoint:        {base}  (use it as ENDPOINT in the Custom Vision SDK)\n"
        f"  training key:    {services.keys.training}  ({where})\n"
        f"  prediction key:  {services.keys.prediction}\n"
        f"  API docs:        {base}/docs",
        flush=True,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cvstudio", description="A self-hostable Custom Vision.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the API on the embedded store")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument(
        "--data-dir", default=None, help="where data lives (default: $CVSTUDIO_DATA_DIR or .data)"
    )
    serve.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    serve.set_defaults(handler=_serve)
    args = parser.parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level.upper(), logging.INFO))
    return int(args.handler(args))


if __name__ == "__main__":
    raise SystemExit(main())
