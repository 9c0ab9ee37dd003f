"""A real Dovecot IMAP server for tests and benchmarks, run from a temporary directory on a free
loopback port (Debian's dovecot-imapd; `make test` installs it). Plain-text login, Maildir.
The process is ours: stop() ends it by its pid."""

from __future__ import annotations

import imaplib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests import processes
from tests.core.test_run import free_port

PASSWORD = "secret"



class Dovecot:
    def __init__(self, users: tuple[str, ...] = ("support@example.com",), port: int | None = None,
                 extra_config: str = ""):
        self.extra_config = extra_config
        # Its own directory, which the dovecot user can enter (pytest's tmp_path is 0700 root).
        self.root = Path(tempfile.mkdtemp(prefix="cic-dovecot-"))
        self.root.chmod(0o755)
        self.users = users
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def config(self) -> Path:
        return self.root / "dovecot.conf"

    def start(self) -> Dovecot:
        if shutil.which("dovecot") is None and not Path("/usr/sbin/dovecot").exists():
            raise RuntimeError("Dovecot is not installed: run `make test` (it installs dovecot-imapd)")
        for sub in ("run", "state", "mail", "home"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        mail_user = pwd.getpwnam("dovecot")
        for sub in ("mail", "home"):
            os.chown(self.root / sub, mail_user.pw_uid, mail_user.pw_gid)
        (self.root / "users").write_text("".join(f"{u}:{{PLAIN}}{PASSWORD}::::\n" for u in self.users))
        r = self.root
        # Each { ... } block over several lines: Dovecot's parser wants them so.
        self.config.write_text(f"""base_dir = {r}/run
state_dir = {r}/state
instance_name = cic-test-{self.port}
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{r}/mail/%u
first_valid_uid = 1
log_path = {r}/dovecot.log
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {r}/users
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={r}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
""" + self.extra_config)
        self.proc = processes.spawn(["dovecot", "-c", str(self.config), "-F"], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(100).startswith(b"* OK"):
                        return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"dovecot exited: {self.proc.stderr.read().decode()[-2000:]}") from None
                time.sleep(0.05)
        raise RuntimeError("dovecot did not start listening")

    def stop(self) -> None:
        if self.proc is not None:
            processes.stop(self.proc)
        self.proc = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def restart(self) -> None:
        self.stop()
        self.start()

    # What a sender or a mail client does --------------------------------------------------

    def client(self, user: str | None = None) -> imaplib.IMAP4:
        imap = imaplib.IMAP4("127.0.0.1", self.port)
        imap.login(user or self.users[0], PASSWORD)
        return imap

    def deliver(self, raw: bytes, folder: str = "INBOX", user: str | None = None) -> None:
        """Put a message into a mailbox, as the mail server's delivery would."""
        imap = self.client(user)
        try:
            typ, data = imap.append(folder, None, None, raw)
            if typ != "OK":
                imap.create(folder)
                typ, data = imap.append(folder, None, None, raw)
            assert typ == "OK", data
        finally:
            imap.logout()

    def flags(self, folder: str = "INBOX", user: str | None = None) -> dict[int, str]:
        """UID -> flags of every message in a folder."""
        imap = self.client(user)
        try:
            typ, _ = imap.select(folder)
            if typ != "OK":
                return {}
            typ, data = imap.uid("FETCH", "1:*", "(FLAGS)")
            out = {}
            for line in data:
                if isinstance(line, bytes) and b"UID" in line:
                    text = line.decode()
                    uid = int(text.split("UID ")[1].split()[0].rstrip(")"))
                    out[uid] = text.split("FLAGS (")[1].split(")")[0]
            return out
        finally:
            imap.logout()
