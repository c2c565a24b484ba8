"""Run the fake Opper server by hand: `python -m tests.fake_opper --port 8080`."""

from __future__ import annotations

import argparse

import uvicorn

from .app import TEST_KEY, ConnectionTrackingProtocol, FakeOpper, create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fake_opper", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--key", action="append", default=[], help="extra accepted API key (repeatable)")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    state = FakeOpper()
    state.api_keys.update(args.key)
    print(f"fake Opper on http://{args.host}:{args.port}  (keys: {', '.join(sorted(state.api_keys))})")
    print(f"try: curl -H 'Authorization: Bearer {TEST_KEY}' http://{args.host}:{args.port}/v3/traces")
    uvicorn.run(
        create_app(state),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        lifespan="off",
        loop="asyncio",
        http=ConnectionTrackingProtocol,
        ws="none",
    )


if __name__ == "__main__":
    main()
