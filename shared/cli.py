"""The ``cvstudio`` command.

``cvstudio serve --host H --port P --data-dir D`` serves the API and runs queued training;
``cvstudio train-iteration PROJECT_ID ITERATION_ID`` trains one iteration (the local worker's
child process, and the Azure Container Apps job's command).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from shared.settings import InvalidSettings, Settings, load_settings

__all__ = ["main"]


def _settings(args: argparse.Namespace) -> Settings:
    if args.data_dir is None:
        return load_settings()
    return load_settings(data_dir=Path(args.data_dir))


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from shared.api.app import create_app
    from shared.bootstrap import build_drop_watcher, build_local_worker, build_services

    settings = _settings(args)
    services = build_services(settings)
    app = create_app(services)
    base = f"http://{args.host}:{args.port}"
    where = "kept in " + str(settings.data_dir / "keys.json") if services.keys.generated else "from the environment"
    if settings.on_azure:
        cosmos = f"Cosmos DB {settings.cosmos_endpoint} (database {settings.cosmos_database})"
        stores = f"  stores:          {cosmos}, Azure Storage\n"
    else:
        stores = (
            f"  data dir:        {settings.data_dir.resolve()}\n"
            f"  drop folder:     {settings.drop_dir.resolve()}/<project>/<tag>/  (files become training images)\n"
        )
    print(
        f"cvstudio is serving the Custom Vision API at {base}\n"
        f"{stores}"
        f"  endpoint:        {base}  (use it as ENDPOINT in the Custom Vision SDK)\n"
        f"  training key:    {services.keys.training}  ({where})\n"
        f"  prediction key:  {services.keys.prediction}\n"
        f"  API docs:        {base}/docs",
        flush=True,
    )
    worker = build_local_worker(services)
    worker.start()
    drops = build_drop_watcher(services)  # the local drop folder (embedded default; Azure: the blob trigger)
    if drops is not None:
        drops.start()
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)
    finally:
        if drops is not None:
            drops.stop()
        worker.stop()
    return 0


def _exit_with_parent(parent_pid: int) -> None:
    """A trainer whose server is gone stops too, so that a restart never trains the same iteration twice."""

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent_pid:
                os._exit(3)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _train_iteration(args: argparse.Namespace) -> int:
    from shared.bootstrap import build_services
    from shared.training.trainer import train_iteration

    if args.parent_pid:
        _exit_with_parent(args.parent_pid)
    train_iteration(build_services(_settings(args)), args.project_id, args.iteration_id)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cvstudio", description="A self-hostable Custom Vision.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the API on the embedded store")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--data-dir", default=None, help="where data lives (default: $CVSTUDIO_DATA_DIR or .data)")
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    serve.set_defaults(handler=_serve)
    train = commands.add_parser("train-iteration", help="train one queued iteration and record the result")
    train.add_argument("project_id")
    train.add_argument("iteration_id")
    train.add_argument("--data-dir", default=None)
    train.add_argument("--parent-pid", type=int, default=None, help="stop when this process is gone")
    train.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    train.set_defaults(handler=_train_iteration)
    args = parser.parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level.upper(), logging.INFO))
    try:
        return int(args.handler(args))
    except InvalidSettings as exc:
        print(f"cvstudio: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
