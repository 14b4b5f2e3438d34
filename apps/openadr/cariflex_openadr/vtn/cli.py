"""The operator's command inside the VTN container: `cariflex-vtn-events`.

    docker exec openadr-vtn cariflex-vtn-events create load-control --share 0.5 --hours 4
    docker exec openadr-vtn cariflex-vtn-events create demand-response --level 2 --hours 1
    docker exec openadr-vtn cariflex-vtn-events modify EVENT_ID --value 0.3
    docker exec openadr-vtn cariflex-vtn-events cancel EVENT_ID
    docker exec openadr-vtn cariflex-vtn-events publish-prices --day 2026-11-27
    docker exec openadr-vtn cariflex-vtn-events status

It talks to the running VTN's admin API on 127.0.0.1 (stdlib only, no extra dependency).
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from typing import Any

from cariflex_openadr.config import ConfigError, load_config

TIMEOUT_SECONDS = 10


def _call(base: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{base}{path}", data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
        return json.loads(response.read() or b"null")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cariflex-vtn-events", description=__doc__.split("\n")[0])
    parser.add_argument("--admin-url", help="default: from the config file (127.0.0.1:admin_port)")
    commands = parser.add_subparsers(dest="command", required=True)

    create = commands.add_parser("create", help="create a load-control or demand-response event")
    create.add_argument("kind", choices=["load-control", "demand-response"])
    value = create.add_mutually_exclusive_group(required=True)
    value.add_argument("--share", type=float, help="load control: share 0..1 of capacity")
    value.add_argument("--level", type=int, help="demand response: level 0..3")
    value.add_argument("--values", help="comma-separated values, one per equal interval")
    create.add_argument("--start", help="ISO 8601 with offset; default: now")
    create.add_argument("--hours", type=float, help="duration (default 4 h load control, 1 h DR)")

    modify = commands.add_parser("modify", help="change an event's values or end")
    modify.add_argument("event_id")
    modify.add_argument("--value", type=float)
    modify.add_argument("--values", help="comma-separated, one per interval")
    modify.add_argument("--end", help="ISO 8601 with offset")

    cancel = commands.add_parser("cancel", help="cancel an event")
    cancel.add_argument("event_id")

    prices = commands.add_parser("publish-prices", help="publish a day's ENERGY_PRICE event")
    prices.add_argument("--day", help="YYYY-MM-DD, default today")

    commands.add_parser("status", help="registered VENs, last polls, events, opt responses")
    return parser


def _request(args: argparse.Namespace) -> tuple[str, str, dict[str, Any] | None]:
    if args.command == "create":
        body: dict[str, Any] = {
            "kind": "load_control" if args.kind == "load-control" else "demand_response"
        }
        if args.values:
            body["values"] = [float(v) for v in args.values.split(",")]
        else:
            body["value"] = args.share if args.share is not None else args.level
        if args.start:
            body["start"] = args.start
        if args.hours is not None:
            body["duration_minutes"] = args.hours * 60
        return "POST", "/events", body
    if args.command == "modify":
        body = {}
        if args.values:
            body["values"] = [float(v) for v in args.values.split(",")]
        elif args.value is not None:
            body["value"] = args.value
        if args.end:
            body["end"] = args.end
        return "PATCH", f"/events/{args.event_id}", body
    if args.command == "cancel":
        return "DELETE", f"/events/{args.event_id}", None
    if args.command == "publish-prices":
        return "POST", "/prices/publish", {"day": args.day} if args.day else {}
    return "GET", "/status", None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    base = args.admin_url
    if not base:
        try:
            vtn = load_config().vtn
        except ConfigError as err:
            print(f"configuration: {err}", file=sys.stderr)
            return 2
        base = f"http://127.0.0.1:{vtn.admin_port}"
    method, path, body = _request(args)
    try:
        result = _call(base.rstrip("/"), method, path, body)
    except urllib.error.HTTPError as err:
        print(f"refused ({err.code}): {err.read().decode().strip()}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as err:
        print(f"VTN admin API not answering at {base}: {err}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
