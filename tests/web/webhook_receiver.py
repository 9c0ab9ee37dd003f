"""A company's webhook receiver, run as its own process so a test can kill and restart it: it
checks each delivery's signature itself (HMAC-SHA256 over "<timestamp>.<body>", as the README
tells receivers to) and appends what it got to a JSON-lines file, then answers 200.

    python -m tests.web.webhook_receiver PORT SECRET OUT.jsonl
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    port, secret, out = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3]

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            timestamp = self.headers.get("X-CIC-Timestamp", "")
            expected = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
            signed = hmac.compare_digest(expected, self.headers.get("X-CIC-Signature", ""))
            fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) < 300
            with open(out, "a") as f:
                f.write(json.dumps({"delivery": self.headers.get("X-CIC-Delivery"), "signed": signed, "fresh": fresh,
                                    "event": json.loads(body)}) + "\n")
            self.send_response(200 if signed else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Receiver)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
