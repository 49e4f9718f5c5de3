"""``cvstudio migrate``: its arguments, what it prints, and its exit status.

    cvstudio migrate --from ENDPOINT --from-key KEY --to ENDPOINT --to-key KEY (--project NAME ... | --all)
                     [--train] [--state DIR] [--threads N] [--batch-size N]

Exit status: 0 when everything was copied; 1 when some project or image failed (the summary says which; a
re-run retries them); 2 when nothing could start (an endpoint unreachable, a key refused, a project name
unknown, an unusable state file); 130 when interrupted (the state is saved: run the same command again).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from shared.client.http import ApiClient, ApiError
from shared.domain.limits import MAX_BATCH_IMAGES
from shared.migration.copier import Copier, CopyOptions
from shared.migration.progress import Progress
from shared.migration.source import ProjectInfo, ProjectReader
from shared.migration.state import MigrationState, StateError
from shared.migration.target import ProjectWriter

__all__ = ["add_migrate_command", "migrate"]

_MAX_THREADS = 64


class _Stop(Exception):
    """Nothing can be copied; the message says why (exit status 2)."""


def _positive(limit: int) -> Any:
    def parse(text: str) -> int:
        value = int(text)
        if not 1 <= value <= limit:
            raise argparse.ArgumentTypeError(f"give a number from 1 to {limit}")
        return value

    return parse


def add_migrate_command(commands: Any) -> None:
    """Register ``migrate`` on the ``cvstudio`` command's subparsers."""
    parser = commands.add_parser(
        "migrate",
        help="copy projects from a Custom Vision endpoint (Azure's or a cvstudio's) to another",
        description=(
            "Copy projects (settings, tags, original images, regions, metadata) through the public Training API. "
            "Running it again copies only what is missing; nothing is duplicated."
        ),
    )
    parser.add_argument("--from", dest="source", required=True, metavar="ENDPOINT", help="the endpoint to copy from")
    parser.add_argument("--from-key", dest="source_key", required=True, metavar="KEY", help="its training key")
    parser.add_argument("--to", dest="target", required=True, metavar="ENDPOINT", help="the endpoint to copy to")
    parser.add_argument("--to-key", dest="target_key", required=True, metavar="KEY", help="its training key")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--project", dest="projects", action="append", metavar="NAME", help="a project (repeatable)")
    which.add_argument("--all", action="store_true", help="every project of the source")
    parser.add_argument("--train", action="store_true", help="train each copied project on the target and wait")
    parser.add_argument(
        "--state", default=".", metavar="DIR", help="folder of the state file that makes re-runs resume (default: .)"
    )
    parser.add_argument(
        "--threads", type=_positive(_MAX_THREADS), default=8, help="parallel image downloads (default: 8)"
    )
    parser.add_argument(
        "--batch-size",
        type=_positive(MAX_BATCH_IMAGES),
        default=MAX_BATCH_IMAGES,
        help=f"images per upload request (default and most: {MAX_BATCH_IMAGES})",
    )
    parser.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])
    parser.set_defaults(handler=migrate)


def _reach(reader: ProjectReader, role: str, endpoint: str) -> list[ProjectInfo]:
    try:
        return reader.projects()
    except ApiError as exc:
        if exc.status == 0:
            raise _Stop(f"the {role} endpoint {endpoint} cannot be reached: {exc.message}") from exc
        if exc.status in (401, 403):
            raise _Stop(
                f"the {role} endpoint {endpoint} refused the key ({exc.status} {exc.code}): {exc.message}"
            ) from exc
        if exc.status == 404:
            raise _Stop(
                f"{endpoint} does not answer as a Custom Vision training endpoint (404 {exc.code}): {exc.message}"
            ) from exc
        raise _Stop(f"the {role} endpoint {endpoint} answered {exc}") from exc


def _select(projects: list[ProjectInfo], names: list[str] | None) -> list[ProjectInfo]:
    if names is None:
        return projects
    wanted = list(dict.fromkeys(names))
    missing = [n for n in wanted if not any(p.name == n for p in projects)]
    if missing:
        have = ", ".join(repr(p.name) for p in projects[:20]) or "none"
        raise _Stop(f"the source has no project named {', '.join(map(repr, missing))} (it has: {have})")
    return [p for p in projects if p.name in wanted]


def migrate(args: argparse.Namespace) -> int:
    progress = Progress(sys.stderr)
    with (
        ApiClient(args.source, args.source_key) as source_client,
        ApiClient(args.target, args.target_key) as target_client,
    ):
        source, target = ProjectReader(source_client), ProjectReader(target_client)
        try:
            chosen = _select(_reach(source, "source", args.source), args.projects)
            _reach(target, "target", args.target)
            state = MigrationState.load(Path(args.state), source_client.endpoint, target_client.endpoint)
        except (_Stop, StateError) as exc:
            print(f"cvstudio migrate: {exc}", file=sys.stderr)
            return 2
        names = [p.name for p in chosen]
        doubles = sorted({n for n in names if names.count(n) > 1})
        if doubles:
            print(
                f"cvstudio migrate: the source has several projects named {', '.join(map(repr, doubles))}; "
                "rename them apart first (the target keeps project names unique)",
                file=sys.stderr,
            )
            return 2
        options = CopyOptions(threads=args.threads, batch_size=args.batch_size, train=args.train)
        copier = Copier(source, target, ProjectWriter(target_client), state, progress, options)
        print(
            f"cvstudio migrate: {len(chosen)} project(s) from {source_client.endpoint} to {target_client.endpoint} "
            f"(state: {state.path})",
            file=sys.stderr,
        )
        try:
            copier.copy(chosen)
        except KeyboardInterrupt:
            state.save(force=True)
            print("\ncvstudio migrate: interrupted; run the same command again to continue\n", file=sys.stderr)
            print(progress.summary(), flush=True)
            return 130
        except ApiError as exc:
            state.save(force=True)
            print(f"\ncvstudio migrate: stopped: {exc}", file=sys.stderr)
            print(progress.summary(), flush=True)
            return 2
        throttled = source_client.throttled + target_client.throttled
        waited = source_client.throttled_s + target_client.throttled_s
        print(progress.summary(throttled=throttled, throttled_s=waited), flush=True)
        return 1 if progress.tally.failed else 0
