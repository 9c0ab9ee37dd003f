"""Load for bench/webchat.py: N WebSocket clients in one gevent process, speaking the chat
widget's protocol (or plain echo), closed loop (each sends its next message when the last is
acknowledged) or open loop (a fixed total rate). With --watch, a supervisor's live socket
records when each message's event reaches the inbox side.

Prints one JSON line: sockets, sent, acked, seconds, latency percentiles (ms)."""

import sys

# Run as a script from bench/: only the repository is on the path, not this folder.
sys.path[:] = [p for p in sys.path if not p.rstrip("/").endswith("bench")]

from gevent import monkey  # noqa: E402

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import socket  # noqa: E402
import time  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402

import gevent  # noqa: E402
from gevent.event import Event  # noqa: E402
from wsproto import ConnectionType, WSConnection  # noqa: E402
from wsproto.events import AcceptConnection, Message, Ping, Request, TextMessage  # noqa: E402


class Client:
    def __init__(self, url: str, origin: str, cookie: str | None = None):
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=60)
        self.conn = WSConnection(ConnectionType.CLIENT)
        headers = [(b"Origin", origin.encode())] + ([(b"Cookie", cookie.encode())] if cookie else [])
        self.sock.sendall(self.conn.send(Request(host=parts.netloc, target=parts.path, extra_headers=headers)))
        self.inbox: list[dict] = []
        self.partial = ""
        while not self._accepted():
            pass

    def _accepted(self) -> bool:
        self.conn.receive_data(self.sock.recv(65536))
        return any(isinstance(e, AcceptConnection) for e in self.conn.events())

    def send(self, message: dict) -> None:
        self.sock.sendall(self.conn.send(Message(data=json.dumps(message))))

    def receive(self) -> dict | None:
        while not self.inbox:
            data = self.sock.recv(65536)
            if not data:
                return None
            self.conn.receive_data(data)
            for event in self.conn.events():
                if isinstance(event, TextMessage):
                    self.partial += event.data
                    if event.message_finished:
                        self.inbox.append(json.loads(self.partial))
                        self.partial = ""
                elif isinstance(event, Ping):
                    self.sock.sendall(self.conn.send(event.response()))
        return self.inbox.pop(0)

    def receive_until(self, kind: str) -> dict:
        while True:
            message = self.receive()
            if message is None:
                raise ConnectionError("closed")
            if message.get("type") == kind:
                return message
            if message.get("type") == "error":  # refused: say so rather than wait forever
                raise RuntimeError(f"the engine refused: {message}")


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--origin", required=True)
    parser.add_argument("--sockets", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rate", type=float, default=0, help="open loop: messages/s over all sockets; 0: closed loop")
    parser.add_argument("--warmup", type=float, default=0,
                        help="open loop: send at the rate this long first, unmeasured (each chat's first message "
                             "opens its interaction, and the heap grows to its working size)")
    parser.add_argument("--chat", action="store_true", help="start a chat session on each socket first")
    parser.add_argument("--watch", help="the inbox's live socket URL, watched with --cookie")
    parser.add_argument("--cookie")
    args = parser.parse_args()

    sent_at: dict[str, float] = {}
    message_of: dict[int, str] = {}
    seen_at: dict[int, float] = {}
    acks: list[float] = []
    go = Event()
    stop_at = [0.0]

    watcher = None
    if args.watch:
        watcher = Client(args.watch, args.origin, args.cookie)

        def watch() -> None:
            while (event := watcher.receive()) is not None:
                if event.get("event") == "interaction.message_received":
                    seen_at[event["data"]["message_id"]] = time.perf_counter()
        gevent.spawn(watch)

    def connect(n: int) -> Client:
        client = Client(args.url, args.origin)
        if args.chat:
            client.send({"type": "start", "name": f"Bench customer {n}"})
            client.receive_until("session")
        return client

    started = time.perf_counter()
    clients: list[Client] = []
    for batch in range(0, args.sockets, 200):
        jobs = [gevent.spawn(connect, n) for n in range(batch, min(batch + 200, args.sockets))]
        gevent.joinall(jobs, raise_error=True)
        clients.extend(j.value for j in jobs)
    connect_s = time.perf_counter() - started

    warming: set[str] = set()  # sent during the warm-up: acknowledged, not measured

    def send(client: Client, n: int, i: int, warm: bool = False) -> None:
        key = f"m{n:05d}x{i:07d}"
        sent_at[key] = time.perf_counter()
        if warm:
            warming.add(key)
        client.send({"type": "message", "id": key, "text": f"message {i} from customer {n}"})

    def closed_loop(n: int, client: Client) -> None:
        go.wait()
        i = 0
        while time.perf_counter() < stop_at[0]:
            send(client, n, i)
            ack = client.receive_until("ack")
            now = time.perf_counter()
            acks.append(now - sent_at[ack["id"]])
            message_of[ack["message_id"]] = ack["id"]
            i += 1

    def reader(client: Client) -> None:
        while (message := client.receive()) is not None:
            if message.get("type") == "ack" and message["id"] not in warming:
                acks.append(time.perf_counter() - sent_at[message["id"]])
                message_of[message["message_id"]] = message["id"]

    if args.rate:
        readers = [gevent.spawn(reader, c) for c in clients]
        started = time.perf_counter()
        measured_from = started + args.warmup
        stop_at[0] = measured_from + args.seconds
        i = 0
        while time.perf_counter() < stop_at[0]:
            n = random.randrange(len(clients))
            send(clients[n], n, i, warm=time.perf_counter() < measured_from)
            i += 1
            gevent.sleep(max(0.0, started + i / args.rate - time.perf_counter()))
        gevent.sleep(3)  # the last acks and events
        for r in readers:
            r.kill()
    else:
        workers = [gevent.spawn(closed_loop, n, c) for n, c in enumerate(clients)]
        started = time.perf_counter()
        stop_at[0] = started + args.seconds
        go.set()
        gevent.joinall(workers, timeout=args.seconds + 60)
        gevent.sleep(2 if args.watch else 0)
    elapsed = args.seconds
    delivered = [seen_at[m] - sent_at[k] for m, k in message_of.items() if m in seen_at]
    print(json.dumps({
        "sockets": len(clients), "connect_s": round(connect_s, 2), "sent": len(sent_at) - len(warming),
        "warmup_sent": len(warming), "acked": len(acks),
        "per_s": round(len(acks) / elapsed, 1),
        "ack_p50_ms": round(1000 * (percentile(acks, 0.5) or 0), 1),
        "ack_p99_ms": round(1000 * (percentile(acks, 0.99) or 0), 1),
        "delivered": len(delivered),
        "delivery_p50_ms": round(1000 * (percentile(delivered, 0.5) or 0), 1),
        "delivery_p99_ms": round(1000 * (percentile(delivered, 0.99) or 0), 1),
    }), flush=True)


if __name__ == "__main__":
    main()
