"""A stand-in for Open-Meteo's /v1/forecast in the scenario's engine (standard library only).

Serves the recorded answer of apps/simulator/tests/fixtures (mounted at /srv/recorded.json) with
its quarter-hour stamps moved, whole quarters at a time, so that its last stamp is the quarter
after now: the shape of Open-Meteo's answer to the ingest's request, today. Prints each query
as one JSON line (verify reads them with docker logs).
"""

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

QUARTER = 900
RECORDED = json.loads(Path("/srv/recorded.json").read_text(encoding="utf-8"))


def redated() -> dict:
    body = json.loads(json.dumps(RECORDED))
    stamps = body["minutely_15"]["time"]
    shift = (int(time.time()) // QUARTER + 1) * QUARTER - stamps[-1]
    body["minutely_15"]["time"] = [t + shift for t in stamps]
    return body


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path != "/v1/forecast":
            self.send_error(404)
            return
        print(json.dumps({"query": dict(parse_qsl(url.query))}), flush=True)
        data = json.dumps(redated()).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


if __name__ == "__main__":
    print("serving on :8000", file=sys.stderr, flush=True)
    ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
