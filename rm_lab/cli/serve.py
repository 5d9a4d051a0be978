"""`python -m rm_lab.serve PATH`: a trained reward model behind OpenRLHF's remote reward protocol.

    python -m rm_lab.serve RUN_OR_EXPORT --port 5000                    # http://127.0.0.1:5000/get_reward
    python -m rm_lab.serve RUN_OR_EXPORT --port 5000 --api-key SECRET    # or RM_LAB_API_KEY=SECRET
    python -m rm_lab.serve RUN_OR_EXPORT --host 0.0.0.0 --port 5000      # reachable from other machines

PATH is a completed run's folder or an export (any method; see rm_lab/inference/exported.py).
POST /get_reward takes {"query": [...], "prompts": [...]} and answers {"rewards": [...],
"scores": [...]} (OpenRLHF: --reward.remote_url http://HOST:PORT/get_reward); GET /health says
the server is up and what it serves. rm_lab/inference/serve.py has the details. Needs the `serve`
extra: pip install "rm_lab[serve]" (fastapi, uvicorn).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rm_lab.rundir.layout import RunDir

EXIT_USAGE = 2


def port_number(text: str) -> int:
    """argparse type of --port: an integer 0-65535 (0: any free port)."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number 0-65535, got {text!r}")
    return port


def cannot_listen(host: str, port: int) -> str | None:
    """Why the server could not listen on host:port (taken, not this machine's address), else None:
    asked before the model loads, so the line saying where it serves is only printed where it can."""
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            probe.bind(address)
    except OSError as err:
        return f"cannot listen on {host}:{port}: {err.strerror or err}"
    return None


def main(argv: list[str] | None = None) -> int:
    from rm_lab.inference.serve import API_KEY_ENV, MAX_BYTES, MAX_QUERIES

    parser = argparse.ArgumentParser(prog="python -m rm_lab.serve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", help="a completed run's folder or an export (python -m rm_lab.export)")
    parser.add_argument("--port", type=port_number, default=5000, help="port to listen on (default 5000)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1, this machine only; 0.0.0.0: every interface)")
    parser.add_argument("--api-key", default=None,
                        help=f"require this key of every request (default: ${API_KEY_ENV} if set, else none)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    parser.add_argument("--batch-size", type=int, default=None, help="scoring batch size (default: the run's)")
    parser.add_argument("--max-queries", type=int, default=MAX_QUERIES, help="queries per request at most")
    parser.add_argument("--max-bytes", type=int, default=MAX_BYTES, help="request body size at most, in bytes")
    args = parser.parse_args(argv)
    if not Path(args.path).expanduser().exists():  # said before torch and the server's libraries load
        print(f"python -m rm_lab.serve: {args.path} does not exist: give a completed run's folder (the one "
              f"holding {RunDir.RESULTS}, written by python -m rm_lab) or an export (python -m rm_lab.export)",
              file=sys.stderr)
        return EXIT_USAGE
    why = cannot_listen(args.host, args.port)
    if why:
        print(f"python -m rm_lab.serve: {why}: give another --port (or --host)", file=sys.stderr)
        return EXIT_USAGE
    try:
        import uvicorn

        from rm_lab.inference.serve import build_app
    except ImportError as err:
        print(f"python -m rm_lab.serve: {err}: install the server with pip install 'rm_lab[serve]' "
              "(fastapi, uvicorn)", file=sys.stderr)
        return EXIT_USAGE

    from rm_lab.inference.exported import describe, load_scorer

    try:
        scorer = load_scorer(args.path, device=args.device, batch_size=args.batch_size)
    except (OSError, ValueError, ImportError) as err:
        print(f"python -m rm_lab.serve: {err}", file=sys.stderr)
        return EXIT_USAGE
    api_key = args.api_key or os.environ.get(API_KEY_ENV) or None
    app = build_app(scorer, api_key=api_key, max_queries=args.max_queries, max_bytes=args.max_bytes)
    info = describe(scorer)
    print(f"serving {info['method']} on {info['backbone']} ({info['input_format']} format) at "
          f"http://{args.host}:{args.port}/get_reward" + (" (API key required)" if api_key else ""), flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
