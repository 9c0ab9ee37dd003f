"""Runs pytest in a private network namespace that has only the loopback interface:
`unshare -n python -m tests.realswitch.private_network <pytest arguments>`.

WebRTC tests need it (../shared/freeswitch/README.md): on the host network Chromium offers only
the machine's interface addresses as ICE candidates; here the switch, the engine and the browser
meet on 127.0.0.1, and no port they take can clash with another test's."""

from __future__ import annotations

import fcntl
import os
import socket
import struct
import sys

SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1


def loopback_up() -> None:
    """`ip link set lo up`, without needing iproute2."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        flags = struct.unpack("16sH", fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sH", b"lo", 0)))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH", b"lo", flags | IFF_UP))


def only_loopback() -> bool:
    """Whether this process is in such a namespace (the tests run here refuse to run elsewhere)."""
    return sorted(name for _, name in socket.if_nameindex()) == ["lo"]


if __name__ == "__main__":
    loopback_up()
    os.environ["CIC_PRIVATE_NETWORK"] = "1"
    os.execv(sys.executable, [sys.executable, "-m", "pytest", *sys.argv[1:]])
