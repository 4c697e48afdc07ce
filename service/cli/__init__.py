"""The ``citeqa`` command: argument parsing and dispatch only.

Each command group lives in its own module exposing ``register(subparsers)``, found through the
``citeqa.commands`` entry points; those modules keep heavy imports (torch, litellm, uvicorn)
inside the command functions so ``citeqa --help`` is fast.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from index.errors import CiteqaError
from service import wiring

# Each command group registers itself as an entry point of this group (see pyproject.toml), so
# this dispatcher imports no adapter: ``register(subparsers)`` adds its subcommands.
COMMANDS = "citeqa.commands"

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="citeqa",
        description="Answer questions from a document corpus, with checkable citations.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in wiring.plugins(COMMANDS):
        register(sub)  # type: ignore[operator]
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    handler: Handler = args.func
    try:
        return handler(args)
    except CiteqaError as exc:
        print(f"citeqa: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("citeqa: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
