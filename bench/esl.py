"""ESL parsing speed: our sans-IO reader and event parser against greenswitch's own parser, on
the same stream of events captured from a real FreeSWITCH (tests/fakeswitch/captures), in the
same run. Both get the bytes from memory in socket-sized reads; both produce every event's
decoded headers and body.
Last line: ratio (our events/s / greenswitch's; target >= 1.0) and both rates.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import io  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from greenswitch.esl import ESLProtocol  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cic_engine.esl.protocol import FrameReader, parse_event  # noqa: E402

CAPTURES = Path(__file__).resolve().parents[1] / "tests" / "fakeswitch" / "captures"
TARGET_EVENTS = 60_000
READ_SIZE = 65536
ROUNDS = 5


def event_stream() -> tuple[bytes, int]:
    """The captured text/event-plain frames, as on the wire, repeated to TARGET_EVENTS."""
    frames = []
    for capture in sorted(CAPTURES.glob("*.esl")):
        data = capture.read_bytes()
        for frame in FrameReader().feed(data):
            if frame.content_type == "text/event-plain":
                frames.append(b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(frame.body) + frame.body)
    repeat = TARGET_EVENTS // len(frames) + 1
    return b"".join(frames) * repeat, len(frames) * repeat


def ours(stream: bytes) -> int:
    reader, count = FrameReader(), 0
    for start in range(0, len(stream), READ_SIZE):
        for frame in reader.feed(stream[start:start + READ_SIZE]):
            parse_event(frame)
            count += 1
    return count


class _Counting(ESLProtocol):
    def __init__(self, stream: bytes):
        super().__init__()
        self.sock_file = io.BufferedReader(io.BytesIO(stream), buffer_size=READ_SIZE)
        self.sock = io.BytesIO()
        self.count = 0
        self._esl_event_queue = self  # handle_event puts parsed events here

    def put(self, event) -> None:
        self.count += 1


def greenswitch(stream: bytes) -> int:
    protocol = _Counting(stream)
    protocol.receive_events()
    return protocol.count


def rate(parse, stream: bytes, expected: int) -> float:
    best = 0.0
    for _ in range(ROUNDS):
        started = time.perf_counter()
        count = parse(stream)
        elapsed = time.perf_counter() - started
        assert count == expected, f"{parse.__name__} parsed {count} of {expected} events"
        best = max(best, count / elapsed)
    return best


def main() -> None:
    stream, expected = event_stream()
    ours_rate = rate(ours, stream, expected)
    theirs_rate = rate(greenswitch, stream, expected)
    print(f"{expected} captured events, {len(stream) / 1e6:.1f} MB; best of {ROUNDS} rounds each")
    print(f"ratio={ours_rate / theirs_rate:.2f} ours_events_per_s={ours_rate:.0f} "
          f"greenswitch_events_per_s={theirs_rate:.0f}")


if __name__ == "__main__":
    main()
