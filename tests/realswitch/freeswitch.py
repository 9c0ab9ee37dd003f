"""A real FreeSWITCH for tests: the vanilla configuration of the installed build, copied into a
scratch directory, with the project's `freeswitch/` files installed exactly as shipped (the
same files an operator copies) and the variables they use set in vars.xml, as
freeswitch/README.md tells an operator to. Only what the vanilla configuration gets wrong on a
machine with no network, and what a test needs besides (agent phones with a chosen behaviour),
is changed; each change says why.

FreeSWITCH is in no package registry: `make test` installs the build in ../shared/freeswitch/
into /opt/freeswitch (CIC_FREESWITCH names another prefix)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import gevent

from cic_engine.esl.connection import Endpoint, InboundConnection
from tests.core.test_run import free_port

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "freeswitch"
PREFIX = Path(os.environ.get("CIC_FREESWITCH") or "/opt/freeswitch")
BINARY = PREFIX / "bin" / "freeswitch"
ESL_PASSWORD = "cic-test-esl"
MOH = "tone_stream://%(400,200,523,659);loops=-1"  # endless, like local_stream music
# Modules the vanilla modules.conf.xml loads that are not needed here or need a network.
UNWANTED = {"mod_xml_curl", "mod_signalwire", "mod_verto", "mod_rtc", "mod_enum", "mod_cdr_csv"}

# Agent phones for tests (not shipped): `loopback/agent_<login>/public/XML` rings a phone whose
# behaviour the test chooses with `global_setvar cic_phone_<login>=<mode>`: answer (default),
# noanswer (rings until the caller gives up), busy, reject.
# Reached in the public context as agent_<login> (a loopback endpoint names its context: the
# voice adapter refuses one that does not).
PHONES_IN_PUBLIC = """<include>
  <extension name="cic-test-agent-phones">
    <condition field="destination_number" expression="^agent_([a-z0-9_-]+)$">
      <action application="transfer" data="$1 XML cic_phones"/>
    </condition>
  </extension>
</include>
"""
PHONES_DIALPLAN = """<include>
  <context name="cic_fax_customers">
    <extension name="customer-fax-machine">
      <condition field="destination_number" expression="^\\+?\\d+$">
        <action application="answer"/>
        <action application="playback" data="silence_stream://500"/>
        <action application="rxfax" data="FAX_CUSTOMER_DIR/${uuid}.tif"/>
      </condition>
    </extension>
  </context>
  <context name="cic_phones">
    <extension name="phone">
      <condition field="destination_number" expression="^([a-z0-9_-]+)$">
        <action application="set" data="cic_phone_login=$1"/>
        <action application="set" data="cic_phone_mode=${global_getvar(cic_phone_$1)}"/>
        <action application="transfer" data="mode_${cic_phone_mode} XML cic_phone_modes"/>
      </condition>
    </extension>
  </context>
  <context name="cic_customers">
    <extension name="answering-machine">
      <condition field="destination_number" expression="^\\+86139\\d+$">
        <action application="answer"/>
        <action application="playback" data="tone_stream://%(250,150,350,500);loops=4"/>
        <action application="playback" data="tone_stream://%(900,0,1000)"/>
        <action application="sleep" data="20000"/>
      </condition>
    </extension>
    <extension name="customer-phone">
      <condition field="destination_number" expression="^\\+?\\d+$">
        <action application="ring_ready"/>
        <action application="sleep" data="100"/>
        <action application="answer"/>
        <action application="playback" data="silence_stream://-1,1400"/>
      </condition>
    </extension>
  </context>
  <context name="cic_other">
    <extension name="someone-elses-parked-call">
      <condition field="destination_number" expression="^parked$">
        <action application="answer"/>
        <action application="park"/>
      </condition>
    </extension>
  </context>
  <context name="cic_phone_modes">
    <extension name="busy">
      <condition field="destination_number" expression="^mode_busy$">
        <action application="hangup" data="USER_BUSY"/>
      </condition>
    </extension>
    <extension name="reject">
      <condition field="destination_number" expression="^mode_reject$">
        <action application="hangup" data="CALL_REJECTED"/>
      </condition>
    </extension>
    <extension name="noanswer">
      <condition field="destination_number" expression="^mode_noanswer$">
        <action application="ring_ready"/>
        <action application="sleep" data="600000"/>
      </condition>
    </extension>
    <extension name="answer">
      <condition field="destination_number" expression="^mode_(answer)?$">
        <action application="ring_ready"/>
        <action application="sleep" data="${global_getvar(cic_phone_delay)}"/>
        <action application="answer"/>
        <action application="playback" data="tone_stream://%(1000,0,1004);loops=-1"/>
      </condition>
    </extension>
  </context>
</include>
"""


class SwitchUnavailable(RuntimeError):
    pass


def unavailable_reason() -> str | None:
    if not BINARY.exists():
        return (f"no FreeSWITCH at {PREFIX} (make test installs ../shared/freeswitch; or set CIC_FREESWITCH "
                "to your build's prefix)")
    return None


class RealSwitch:
    """One FreeSWITCH process with its own configuration, ports and files."""

    def __init__(self, root: Path):
        self.root = root
        self.conf = root / "conf"
        self.esl_port = free_port()
        self.sip_port = free_port()
        self.engine_port = free_port()  # the engine's outbound socket: cic_engine_socket in vars.xml
        self.webcall_sip_port = free_port()  # the visitors' profile (freeswitch/sip_profiles/cic_webcall.xml)
        self.webcall_ws_port = free_port()
        self.fax_spool = root / "fax-in"
        self.recordings = root / "recordings"
        worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
        n = int(worker[2:]) if worker[2:].isdigit() else 0
        self.rtp_ports = (40000 + n * 2000, 40000 + n * 2000 + 1999)
        self.pid: int | None = None
        self._esl: InboundConnection | None = None
        self.completed: list[tuple[str, str]] = []  # (channel, application) of every application ended

    # Configuration ------------------------------------------------------------------------

    def configure(self) -> RealSwitch:
        if self.conf.exists():
            shutil.rmtree(self.conf)
        shutil.copytree(PREFIX / "etc" / "freeswitch", self.conf)
        for d in ("log", "db", "run", "certs", "recordings", "fax-in", "fax-out", "fax-customer", "sounds"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        for shipped in SHIPPED.rglob("*.xml"):  # exactly as shipped
            target = self.conf / shipped.relative_to(SHIPPED)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shipped, target)
        self._vars()
        self._modules()
        self._switch_conf()
        self._profiles()
        (self.conf / "dialplan" / "cic_phones.xml").write_text(
            PHONES_DIALPLAN.replace("FAX_CUSTOMER_DIR", str(self.root / "fax-customer")))
        (self.conf / "dialplan" / "public" / "50_cic_test_phones.xml").write_text(PHONES_IN_PUBLIC)
        return self

    def serve_browsers(self, directory_url: str, secret: str, ws_port: int) -> RealSwitch:
        """The agents' profile also takes browsers (SIP over WebSocket on 127.0.0.1:ws_port) and
        asks the engine at directory_url for their users (mod_xml_curl, as freeswitch/README.md
        tells an operator). Call after configure(), before start()."""
        vars_xml = self.conf / "vars.xml"
        vars_xml.write_text(vars_xml.read_text().replace("<include>", (
            "<include>\n"
            f'  <X-PRE-PROCESS cmd="set" data="cic_directory_url={directory_url}"/>\n'
            f'  <X-PRE-PROCESS cmd="set" data="cic_directory_secret={secret}"/>\n'), 1))
        modules = self.conf / "autoload_configs" / "modules.conf.xml"
        modules.write_text(modules.read_text().replace("<modules>\n", '<modules>\n    <load module="mod_xml_curl"/>\n', 1))
        internal = self.conf / "sip_profiles" / "internal.xml"
        internal.write_text(internal.read_text().replace(
            "<settings>", f'<settings>\n    <param name="ws-binding" value="127.0.0.1:{ws_port}"/>', 1))
        return self

    def _vars(self) -> None:
        path = self.conf / "vars.xml"
        text = path.read_text()
        # No network here: the STUN lookups would stall start-up, and the auto-detected
        # address is not one the tests use.
        text = re.sub(r'<X-PRE-PROCESS cmd="stun-set" data="(external_\w+_ip)=[^"]*"/>',
                      r'<X-PRE-PROCESS cmd="set" data="\1=127.0.0.1"/>', text)
        # While default_password is 1234, the vanilla dialplan sleeps 10 s in every call.
        text = text.replace('data="default_password=1234"', 'data="default_password=cic-test-not-1234"')
        text = text.replace('data="internal_sip_port=5060"', f'data="internal_sip_port={self.sip_port}"')
        # the one SIP profile here stands for the carrier's trunk: calls in land in the public
        # context, as from a gateway (the vanilla external profile binds to the host's address)
        text = text.replace('data="internal_auth_calls=true"', 'data="internal_auth_calls=false"')
        ours = {
            "local_ip_v4": "127.0.0.1",
            # what freeswitch/README.md tells an operator to set
            "cic_esl_ip": "127.0.0.1",
            "cic_esl_port": str(self.esl_port),
            "cic_esl_password": ESL_PASSWORD,
            "cic_engine_socket": f"127.0.0.1:{self.engine_port}",
            "cic_agent_password": "cic-test-agent",
            "cic_fax_spool": str(self.fax_spool),
            "cic_fax_station_id": "+86 10 6552 0000",
            "cic_webcall_ip": "127.0.0.1",
            "cic_webcall_sip_port": str(self.webcall_sip_port),
            "cic_webcall_ws": f"127.0.0.1:{self.webcall_ws_port}",
        }
        lines = "".join(f'  <X-PRE-PROCESS cmd="set" data="{k}={v}"/>\n' for k, v in ours.items())
        path.write_text(text.replace("<include>", "<include>\n" + lines, 1))

    def _modules(self) -> None:
        have = {p.stem for p in (PREFIX / "lib" / "freeswitch" / "mod").glob("mod_*.so")}
        path = self.conf / "autoload_configs" / "modules.conf.xml"
        text = path.read_text()
        wanted = [m for m in re.findall(r'^\s*<load module="(mod_\w+)"/>', text, re.M) if m in have and m not in UNWANTED]
        wanted += sorted(have - set(wanted) - UNWANTED - {"mod_callcenter"})  # mod_avmd, mod_tone_stream...
        body = "".join(f'    <load module="{m}"/>\n' for m in dict.fromkeys(wanted))
        path.write_text(f'<configuration name="modules.conf" description="Modules">\n  <modules>\n{body}'
                        '    <load module="mod_callcenter"/>\n  </modules>\n</configuration>\n')

    def _switch_conf(self) -> None:
        path = self.conf / "autoload_configs" / "switch.conf.xml"
        text = path.read_text()
        text = text.replace('name="max-sessions" value="1000"', 'name="max-sessions" value="5000"')
        text = text.replace('name="sessions-per-second" value="30"', 'name="sessions-per-second" value="1000"')
        text = text.replace('name="loglevel" value="debug"', 'name="loglevel" value="info"')
        low, high = self.rtp_ports  # two workers' switches must not fight over RTP ports
        text = text.replace("<!-- <param name=\"rtp-start-port\" value=\"16384\"/> -->",
                            f'<param name="rtp-start-port" value="{low}"/>')
        text = text.replace("<!-- <param name=\"rtp-end-port\" value=\"32768\"/> -->",
                            f'<param name="rtp-end-port" value="{high}"/>')
        path.write_text(text)

    def _profiles(self) -> None:
        profiles = self.conf / "sip_profiles"
        for extra in ("external.xml", "external-ipv6.xml", "internal-ipv6.xml"):
            (profiles / extra).unlink(missing_ok=True)
        internal = profiles / "internal.xml"
        text = internal.read_text()
        # no WebSocket or TLS listeners on fixed ports that another worker's switch also wants
        text = re.sub(r'\s*<param name="wss?-binding"[^>]*/>', "", text)
        # the carrier's trunk is on loopback here: its address is the one the ACL lets in
        text = text.replace('<param name="apply-inbound-acl" value="domains"/>',
                            '<param name="apply-inbound-acl" value="loopback.auto"/>')
        # the test phones have no voicemail box to be told about (a NOTIFY SIPp would not expect)
        text = text.replace('<!--<param name="send-message-query-on-register" value="true"/>-->',
                            '<param name="send-message-query-on-register" value="false"/>')
        internal.write_text(text)

    # Process ------------------------------------------------------------------------------

    def start(self, timeout: float = 30) -> RealSwitch:
        r = self.root
        subprocess.run([str(BINARY), "-nc", "-nonat", "-np", "-conf", str(self.conf), "-log", str(r / "log"),
                        "-db", str(r / "db"), "-run", str(r / "run"), "-certs", str(r / "certs"),
                        "-sounds", str(r / "sounds"), "-recordings", str(r / "recordings")],
                       check=True, capture_output=True, timeout=timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid_file = r / "run" / "freeswitch.pid"
            if pid_file.exists() and pid_file.read_text().strip().isdigit():
                self.pid = int(pid_file.read_text())
                break
            time.sleep(0.05)
        else:
            raise SwitchUnavailable(f"FreeSWITCH wrote no pid file: {self.log_tail()}")
        self._esl = InboundConnection(Endpoint("127.0.0.1", self.esl_port, ESL_PASSWORD,
                                               events=("CHANNEL_EXECUTE_COMPLETE",)), name="test ESL")
        self._esl.on_event.append(lambda e: self.completed.append((e.uuid, e.get("Application") or "")))
        self._esl.start()
        if not self._esl.connected.wait(timeout=timeout):
            raise SwitchUnavailable(f"FreeSWITCH's event socket did not answer: {self.log_tail()}")
        while "ready" not in self.api("status"):
            gevent.sleep(0.1)
        self.api("global_setvar cic_phone_delay=100")  # the test phones ring this long (ms) before answering
        return self

    def alive(self) -> bool:
        if self.pid is None:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        try:  # a zombie: our child is gone but not reaped (it forked, so it is not)
            return Path(f"/proc/{self.pid}/status").read_text().find("State:\tZ") < 0
        except OSError:
            return False

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        if self._esl is not None:
            self._esl.stop()
            self._esl = None
        if self.pid is None:
            return
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            self.pid = None
            return
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
            while self.alive():
                time.sleep(0.05)
        self.pid = None
        (self.root / "run" / "freeswitch.pid").unlink(missing_ok=True)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return (self.root / "log" / "freeswitch.log").read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    # Commands -----------------------------------------------------------------------------

    def api(self, cmd: str, timeout: float = 10) -> str:
        assert self._esl is not None, "the switch is not running"
        if not self._esl.connected.wait(timeout=timeout):
            raise SwitchUnavailable("the test's event socket is not connected")
        return self._esl.api(cmd, timeout=timeout)

    def channels(self) -> list[dict]:
        import json

        out = self.api("show channels as json")
        return json.loads(out).get("rows") or []

    def channel(self, uuid: str) -> dict:
        """One channel's row in `show channels` ({} when there is no such channel)."""
        return next((c for c in self.channels() if c["uuid"] == uuid), {})

    def var(self, uuid: str, name: str) -> str:
        out = self.api(f"uuid_getvar {uuid} {name}").strip()
        return "" if out in ("_undef_", "") or out.startswith("-ERR") else out

    def exists(self, uuid: str) -> bool:
        return self.api(f"uuid_exists {uuid}").strip() == "true"

    def phone(self, login: str, mode: str) -> None:
        """How an agent's test phone behaves from now on: answer, noanswer, busy, reject."""
        self.api(f"global_setvar cic_phone_{login}={mode}")

    def hangup_all(self) -> None:
        self.api("hupall NORMAL_CLEARING")
