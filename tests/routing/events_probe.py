"""A gevent process running the node's EventListener; prints each event it gets as a JSON line."""

from gevent import monkey

monkey.patch_all()

import sys  # noqa: E402

import gevent  # noqa: E402

from cic_engine.routing.events import EventListener  # noqa: E402


def main() -> None:
    listener = EventListener(sys.argv[1])
    listener.subscribe(lambda event: print(event.model_dump_json(), flush=True))
    listener.start()
    while True:
        listener.listening.wait()
        print('{"event": "listening"}', flush=True)
        while listener.listening.is_set():
            gevent.sleep(0.01)


if __name__ == "__main__":
    main()
