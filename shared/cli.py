"""The ``cvstudio`` command.

``cvstudio serve --host H --port P --data-dir D`` serves the API and runs queued training;
``cvstudio keys --data-dir D`` prints the keys kept in ``D/keys.json`` (made by the first ``serve``);
``cvstudio train-iteration PROJECT_ID ITERATION_ID`` trains one iteration (the local worker's
child process, and the Azure Container Apps job's command).
``cvstudio export PROJECT --format coco|voc|yolo|csv --out DIR`` and ``cvstudio import DIR --format F
--project NAME`` move a project's labelled images through a server's API (``shared/client/dataset_commands.py``).
``cvstudio migrate --from E --from-key K --to E --to-key K (--project NAME ... | --all)`` copies projects
between Custom Vision endpoints (``shared/migration``).
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shared.keys import ROLES, Keys, environment_roles, kept_keys, keys_file
from shared.settings import InvalidSettings, Settings, load_settings

__all__ = ["main"]


def _settings(args: argparse.Namespace, **overrides: Any) -> Settings:
    if args.data_dir is not None:
        overrides["data_dir"] = Path(args.data_dir)
    return load_settings(**overrides)


def _keys_command(args: argparse.Namespace) -> str:
    return "cvstudio keys" + (f" --data-dir {shlex.quote(args.data_dir)}" if args.data_dir is not None else "")


def _key_lines(keys: Keys, args: argparse.Namespace) -> str:
    """What `serve` says about the keys: never one from the environment; a generated one only on the
    start that made it (afterwards it is in keys.json, and `cvstudio keys` prints it)."""
    lines = []
    for role in ROLES:
        label = f"{role} keys:"
        if role in keys.from_environment:
            lines.append(f"  {label:<17}from the environment (not shown)\n")
        elif keys.of(role) and keys.kept_in is not None:
            lines.append(f"  {label:<17}kept in {keys.kept_in.resolve()}  (`{_keys_command(args)}` prints them)\n")
            for number, name in ((1, role), (2, f"{role}_2")):
                if name in keys.made_now:
                    lines.append(f"    key {number}:        {keys.of(role)[number - 1]}  (new: printed this once)\n")
    return "".join(lines)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from shared.api.app import create_app
    from shared.bootstrap import build_drop_watcher, build_local_worker, build_services

    settings = _settings(args, serve_host=args.host)
    services = build_services(settings)
    app = create_app(services)
    base = f"http://{args.host}:{args.port}"
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
        f"{_key_lines(services.keys, args)}"
        f"  API docs:        {base}/docs",
        flush=True,
    )
    worker = build_local_worker(services)
    worker.start()
    drops = build_drop_watcher(services)  # the local drop folder (embedded default; Azure: the blob trigger)
    if drops is not None:
        drops.start()
    try:
        uvicorn.run(
            app,
            host=args.host,
            port=args.port,
            log_level=args.log_level,
            access_log=False,
            # h11, because httptools reads headers of any size: a request line and headers over
            # the limit are answered 400 (uvicorn's plain-text "Invalid HTTP request received.").
            http="h11",
            h11_max_incomplete_event_size=settings.max_header_bytes,
        )
    finally:
        if drops is not None:
            drops.stop()
        worker.stop()
    return 0


def _print_keys(args: argparse.Namespace) -> int:
    """`cvstudio keys`: the keys kept in keys.json (for the studio's sign-in and the SDK), on demand."""
    settings = _settings(args)
    from_environment, kept = environment_roles(settings), kept_keys(settings)
    for role in ROLES:
        if role in from_environment:
            print(f"{role + ' keys:':<19}from the environment (CVSTUDIO_{role.upper()}_KEY), not shown")
        for number, key in enumerate(kept.get(role, ()), start=1):
            print(f"{f'{role} key {number}:':<19}{key}")
    if not kept and len(from_environment) < len(ROLES) and not settings.on_azure:
        where = keys_file(settings).resolve()
        print(
            f"cvstudio: no keys are kept in {where} yet: `cvstudio serve` makes them on its first start.",
            file=sys.stderr,
        )
        return 1
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


def _export_iteration(args: argparse.Namespace) -> int:
    from shared.bootstrap import build_services
    from shared.contracts.jobs import ExportIteration

    if args.parent_pid:
        _exit_with_parent(args.parent_pid)
    build_services(_settings(args)).exports.run(ExportIteration(args.project_id, args.iteration_id, args.export_id))
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
    keys = commands.add_parser("keys", help="print the keys kept in <data dir>/keys.json (never the environment's)")
    keys.add_argument("--data-dir", default=None, help="where data lives (default: $CVSTUDIO_DATA_DIR or .data)")
    keys.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])
    keys.set_defaults(handler=_print_keys)
    train = commands.add_parser("train-iteration", help="train one queued iteration and record the result")
    train.add_argument("project_id")
    train.add_argument("iteration_id")
    train.add_argument("--data-dir", default=None)
    train.add_argument("--parent-pid", type=int, default=None, help="stop when this process is gone")
    train.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    train.set_defaults(handler=_train_iteration)
    # Hidden: the local worker's child process and the Container Apps job package an export with it.
    export = commands.add_parser("export-iteration")
    export.add_argument("project_id")
    export.add_argument("iteration_id")
    export.add_argument("export_id")
    export.add_argument("--data-dir", default=None)
    export.add_argument("--parent-pid", type=int, default=None, help="stop when this process is gone")
    export.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    export.set_defaults(handler=_export_iteration)
    from shared.migration.command import add_migrate_command

    add_migrate_command(commands)  # `cvstudio migrate`: shared/migration/command.py
    from shared.client.dataset_commands import add_dataset_commands

    add_dataset_commands(commands)  # `cvstudio export` / `cvstudio import`: datasets in COCO, VOC, YOLO, CSV
    args = parser.parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level.upper(), logging.INFO))
    try:
        return int(args.handler(args))
    except InvalidSettings as exc:
        print(f"cvstudio: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
