"""The baseline of bench/webchat.py: the engine's WebSocket stack (gevent's pywsgi, the
WebSocket-aware handler, wsproto through cic_engine.web.websocket) answering each message at
once with an ack, and nothing else: no session, no database. Run: _wsecho.py PORT."""

import sys

# Run as a script from bench/: only the repository is on the path, not this folder.
sys.path[:] = [p for p in sys.path if not p.rstrip("/").endswith("bench")]

from gevent import monkey  # noqa: E402

monkey.patch_all()

import json  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gevent.pywsgi import WSGIServer  # noqa: E402

from cic_engine.web.websocket import Handler, WebSocket  # noqa: E402


def app(environ, start_response):
    ws = WebSocket(environ)
    count = 0
    while (raw := ws.receive()) is not None:
        message = json.loads(raw)
        count += 1
        ws.send(json.dumps({"type": "ack", "id": message.get("id"), "message_id": count}))
    return []


if __name__ == "__main__":
    server = WSGIServer(("127.0.0.1", int(sys.argv[1])), app, log=None, handler_class=Handler)
    print("ready", flush=True)
    server.serve_forever()
