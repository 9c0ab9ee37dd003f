"""The agent's phone in the inbox, against the real FreeSWITCH, in Debian's Chromium: the page
registers with the engine's credential, a customer's call rings in it, the agent answers there
and both hear each other (measured on the switch's recording and in the page's getStats), the
call is held, recorded and hung up from the page; a refused microphone, a closed tab and a
browser that dies mid-call end as an agent and a caller expect.

Run by tests/realswitch/test_browser_phone.py inside a private network namespace (WebRTC media
on 127.0.0.1 only); not collected on its own (the file name has no test_ prefix)."""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
import time
import uuid as uuidlib
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import expect, sync_playwright

from cic_engine.web.auth import hash_password
from tests import real_parts
from tests.core.test_run import engine_toml, free_port, print_engine_log, start, stop
from tests.real_parts import needs_chromium
from tests.realswitch.conftest import DID, voice_channel
from tests.realswitch.freeswitch import RealSwitch, unavailable_reason
from tests.realswitch.private_network import only_loopback
from tests.voice.conftest import wait_for
from tests.web.browser import CHROMIUM, CHROMIUM_ARGS, screenshot

SECRET = "browser-phone-directory-secret"
PASSWORD = "phone-test-password"
CALLER_TONE = "tone_stream://%(1000,0,800)"  # the customer keeps talking (an 800 Hz tone)

pytestmark = [
    pytest.mark.skipif(os.environ.get("CIC_PRIVATE_NETWORK") != "1" or not only_loopback(),
                       reason="WebRTC media tests run in a private network (tests/realswitch/test_browser_phone.py)"),
    needs_chromium,
    pytest.mark.timeout(240),
]


@pytest.fixture(scope="module")
def voice_wav(tmp_path_factory) -> Path:
    """A voice for the fake microphones, made with sox: rising chirps in syllables, not a steady
    tone (Chromium's noise suppression takes a steady tone for noise and silences it)."""
    path = tmp_path_factory.mktemp("audio") / "voice.wav"
    subprocess.run(["sox", "-n", "-r", "48000", "-c", "1", "-b", "16", str(path), "synth", "0.7", "sine", "300:1200",
                    "tremolo", "4", "90", "vol", "0.6", "repeat", "170"], check=True)
    return path


@pytest.fixture
def phone_center(tmp_path, db_url):
    """A switch with the softphone's WebSocket profile asking the engine for its users, and an
    engine whose voice adapter rings agents as user/<login> (their browsers) and offers calls only
    to agents with a registered phone."""
    reason = unavailable_reason()
    if reason:
        real_parts.missing(reason)
    web, ws = free_port(), free_port()
    os.environ["CIC_SWITCH_DIRECTORY_SECRET"] = SECRET
    switch = RealSwitch(tmp_path / "switch").configure()
    switch.serve_browsers(f"http://127.0.0.1:{web}/freeswitch/directory", SECRET, ws)
    switch.start()
    hashed = hash_password(PASSWORD)
    (tmp_path / "channels").mkdir()
    (tmp_path / "cic.toml").write_text(engine_toml("phone-node", db_url, web) + textwrap.dedent(f"""\
        [routing]
        reoffer_after_s = 2
        [softphone]
        ws_url = "ws://127.0.0.1:{ws}"
        domain = "127.0.0.1"
        [[queues]]
        name = "general"
        offer_timeout_s = 60
        wrap_up_s = 30
        recording = "on-demand"
        [[agents]]
        login = "alice"
        name = "Alice Chen"
        queues = ["general"]
        password_hash = "{hashed}"
        [[agents]]
        login = "bob"
        name = "Bob Smith"
        queues = ["general"]
        password_hash = "{hashed}"
        """))
    (tmp_path / "channels" / "pbx.toml").write_text(voice_channel(switch, extra=textwrap.dedent("""\
        agent_endpoint = "user/{login}"
        require_registered_phone = true
        registrations_check_s = 2
        ring_s = 20
        """)))
    (tmp_path / "channels" / "webchat.toml").write_text(textwrap.dedent(f"""\
        kind = "webchat"
        [call]
        ws_url = "ws://127.0.0.1:{switch.webcall_ws_port}"
        domain = "127.0.0.1"
        video = true
        """))
    proc = start(tmp_path / "cic.toml", log=tmp_path / "engine.log")
    center = {"web": f"http://127.0.0.1:{web}", "switch": switch, "db": db_url, "proc": proc}
    yield center
    if proc.poll() is None:
        stop(proc)
    print_engine_log(tmp_path)
    print(switch.log_tail())
    switch.stop()


def chromium(p, voice_wav: Path, microphone: bool = True):
    args = [*CHROMIUM_ARGS, "--allow-loopback-in-peer-connection", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={voice_wav}", "--autoplay-policy=no-user-gesture-required"]
    if microphone:
        args.append("--use-fake-ui-for-media-stream")  # the agent clicked "Allow"
    return p.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)


def agent_page(browser, center, login: str, language: str = "en"):
    page = browser.new_context(locale=language).new_page()
    page.on("console", lambda m: print(f"{login}'s page:", m.text[:500]))  # shown when a test fails
    page.goto(center["web"] + "/")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button")
    expect(page.locator("#phone-status")).to_have_attribute("data-state", "on", timeout=20000)
    page.select_option("#state-select", "available")
    return page


def phones(center) -> set[str]:
    with psycopg.connect(center["db"]) as conn:
        return {r[0] for r in conn.execute("SELECT login FROM phone_registrations").fetchall()}


def interaction_of(center, call_uuid: str) -> dict | None:
    with psycopg.connect(center["db"]) as conn:
        row = conn.execute(
            """SELECT i.id, i.state, i.assigned_agent_id, a.login FROM messages m JOIN interactions i ON i.id = m.interaction_id
               LEFT JOIN agents a ON a.id = i.assigned_agent_id WHERE m.channel = 'voice' AND m.external_id = %s""",
            (call_uuid,)).fetchone()
    return dict(zip(("id", "state", "agent_id", "agent"), row, strict=True)) if row else None


def customer_calls(switch: RealSwitch, number: str) -> str:
    """A customer calls the DID over loopback and keeps talking; the engine's leg's UUID."""
    leg = str(uuidlib.uuid4())
    switch.api(f"bgapi originate {{origination_uuid={leg},origination_caller_id_number={number},"
               f"ignore_early_media=true,loopback_initial_codec=PCMU}}loopback/{DID}/public "
               f"&endless_playback({CALLER_TONE})")
    return wait_for(lambda: switch.var(leg, "other_loopback_leg_uuid"), what="the call reached the switch")


def rings_and_is_answered(page, switch: RealSwitch, number: str) -> str:
    """A customer calls; it rings in the agent's page, which answers. The call's UUID."""
    call = customer_calls(switch, number)
    expect(page.locator("#phone-call")).to_have_attribute("data-view", "ringing", timeout=20000)
    page.click("#phone-answer")
    return call


def visitor_chatting(browser, center, name: str, language: str = "en"):
    """A visitor on the demo page, in a chat with the widget (whose peer connections the test
    can read: KEEP_PEER_CONNECTIONS)."""
    visitor = browser.new_context(locale=language).new_page()
    visitor.on("console", lambda m: print("visitor's page:", m.text[:500]))
    visitor.add_init_script(KEEP_PEER_CONNECTIONS)
    visitor.goto(center["web"] + "/demo")
    visitor.click(".launcher")
    visitor.fill("input[name=name]", name)
    visitor.click(".prechat button[type=submit]")
    expect(visitor.locator(".composer")).to_be_visible()
    return visitor


def inbound_audio(page) -> dict:
    """What the page's peer connection has received of the call's audio."""
    return page.evaluate("""async () => {
      const pc = cicPhone.session && cicPhone.session.connection;
      if (!pc) return {};
      let found = {};
      (await pc.getStats()).forEach((r) => {
        if (r.type === "inbound-rtp" && r.kind === "audio") found = { bytes: r.bytesReceived, level: r.audioLevel || 0 };
      });
      return found;
    }""")


def timeline(center, interaction_id: int) -> list[str]:
    with psycopg.connect(center["db"]) as conn:
        return [r[0] for r in conn.execute("SELECT kind FROM timeline_events WHERE interaction_id = %s ORDER BY id",
                                           (interaction_id,)).fetchall()]


def sides(path: str) -> tuple[float, float]:
    """RMS amplitude of a stereo recording's two channels (the caller, what the caller hears)."""
    def rms(channel: int) -> float:
        out = subprocess.run(["sox", path, "-n", "remix", str(channel), "stat"], capture_output=True, text=True,
                             check=True).stderr
        return float(dict(line.rsplit(":", 1) for line in out.splitlines() if ":" in line)["RMS     amplitude"])
    return rms(1), rms(2)


def test_a_call_rings_in_the_agents_browser_is_answered_there_and_both_hear_each_other(phone_center, voice_wav):
    center, switch = phone_center, phone_center["switch"]
    with sync_playwright() as p:
        browser = chromium(p, voice_wav)
        page = agent_page(browser, center, "alice")
        wait_for(lambda: "alice" in phones(center), what="the engine hearing of alice's browser phone")
        # The agent picks a microphone: the browser's devices are listed, the choice is kept.
        page.click("#phone-devices summary")
        expect(page.locator("#phone-mic option")).not_to_have_count(1)
        chosen = page.locator("#phone-mic option").nth(1).get_attribute("value")
        page.select_option("#phone-mic", chosen)
        assert page.evaluate("localStorage.getItem('cic-phone-mic')") == chosen
        call = customer_calls(switch, "+8613800138501")
        expect(page.locator("#phone-call")).to_have_attribute("data-view", "ringing", timeout=20000)
        expect(page.locator("#phone-who")).to_contain_text("+8613800138501")
        screenshot(page, "softphone-ringing-en")
        page.click("#phone-answer")
        expect(page.locator("#phone-call")).to_have_attribute("data-view", "talking", timeout=15000)
        record = wait_for(lambda: (r := interaction_of(center, call)) and r["state"] == "active" and r,
                          what="the call active with alice")
        assert record["agent"] == "alice"
        # The caller's voice reaches the page: bytes and level rise.
        first = wait_for(lambda: (a := inbound_audio(page)).get("bytes", 0) > 0 and a, what="audio in the page")
        time.sleep(2)
        later = inbound_audio(page)
        assert later["bytes"] > first["bytes"] and later["level"] > 0.01, later
        # The agent's voice reaches the caller: the call's recording, started from the page,
        # has sound on both sides.
        switch.api(f"uuid_setvar {call} RECORD_STEREO true")
        page.click(f'#mine .item[data-id="{record["id"]}"]')
        page.click('#call-controls [data-call="record_start"]')
        time.sleep(3)
        page.click('#call-controls [data-call="record_stop"]')
        with psycopg.connect(center["db"]) as conn:
            path = wait_for(lambda: conn.execute(
                "SELECT data->>'path' FROM timeline_events WHERE interaction_id = %s AND kind = 'recording'",
                (record["id"],)).fetchone(), what="the recording on the timeline")[0]
        caller_side, agent_side = sides(path)
        assert caller_side > 0.01 and agent_side > 0.01, (caller_side, agent_side)
        # Hold from the page: the caller hears music, the agent nothing; resume.
        page.click('#call-controls [data-call="hold"]')
        wait_for(lambda: "call_held" in timeline(center, record["id"]), what="the caller on hold")
        time.sleep(12)  # a long hold: no audio comes to the page, and the call is not taken for lost
        expect(page.locator("#phone-call")).to_have_attribute("data-view", "talking")
        page.click('#call-controls [data-call="unhold"]')
        wait_for(lambda: "call_resumed" in timeline(center, record["id"]), what="the call resumed")
        # Mute: the page stops sending the agent's voice, and says so; unmute.
        page.click("#phone-mute")
        expect(page.locator("#phone-mute")).to_have_attribute("aria-pressed", "true")
        assert page.evaluate("cicPhone.session.isMuted().audio") is True
        page.click("#phone-mute")
        assert page.evaluate("cicPhone.session.isMuted().audio") is False
        page.click('#phone-keypad [data-key="5"]')  # DTMF in the call (RFC 2833)
        screenshot(page, "softphone-talking-en")
        # Hang up on the page's phone: the call ends, alice wraps up, nothing is left on the switch.
        page.click("#phone-hangup")
        expect(page.locator("#phone-call")).to_be_hidden()
        wait_for(lambda: interaction_of(center, call)["state"] in ("wrap_up", "closed"), what="wrap-up")
        wait_for(lambda: not switch.channels(), what="no channel left on the switch")
        browser.close()


def offered_to(center, interaction_id: int) -> list[str]:
    with psycopg.connect(center["db"]) as conn:
        return [r[0] for r in conn.execute(
            """SELECT a.login FROM timeline_events t JOIN agents a ON a.id = t.agent_id
               WHERE t.interaction_id = %s AND t.kind = 'offered' ORDER BY t.id""", (interaction_id,)).fetchall()]


def test_only_agents_with_a_registered_browser_are_offered_calls_and_the_inbox_accept_answers(phone_center, voice_wav):
    center, switch = phone_center, phone_center["switch"]
    with sync_playwright() as p:
        browser = chromium(p, voice_wav)
        alice = agent_page(browser, center, "alice")
        bob = agent_page(browser, center, "bob")
        wait_for(lambda: {"alice", "bob"} <= phones(center), what="both phones registered")
        # Bob closes his tab: his browser unregisters, and calls go to alice only.
        bob.close()
        wait_for(lambda: "bob" not in phones(center), what="bob's phone gone")
        call = customer_calls(switch, "+8613800138502")
        expect(alice.locator("#phone-call")).to_have_attribute("data-view", "ringing", timeout=20000)
        # Declined: the call waits again and, with nobody else to ring, rings alice again.
        alice.click("#phone-decline")
        wait_for(lambda: len(offered_to(center, interaction_of(center, call)["id"])) >= 2, timeout=30,
                 what="the call offered again")
        expect(alice.locator("#phone-call")).to_have_attribute("data-view", "ringing", timeout=20000)
        # The inbox's own Accept on the offer answers the ringing phone.
        alice.click("#offers .item button.accept")
        expect(alice.locator("#phone-call")).to_have_attribute("data-view", "talking", timeout=15000)
        record = wait_for(lambda: (r := interaction_of(center, call)) and r["state"] == "active" and r, what="active")
        assert set(offered_to(center, record["id"])) == {"alice"}  # bob, with no phone, was never offered it
        # Hung up from the conversation's call controls (the engine's): the page's phone goes idle.
        alice.click(f'#mine .item[data-id="{record["id"]}"]')
        alice.click('#call-controls [data-call="hangup"]')
        expect(alice.locator("#phone-call")).to_be_hidden(timeout=15000)
        wait_for(lambda: interaction_of(center, call)["state"] in ("wrap_up", "closed"), what="wrap-up")
        browser.close()


def test_a_refused_microphone_tells_the_agent_and_the_call_waits_for_another(phone_center, voice_wav):
    center, switch = phone_center, phone_center["switch"]
    with sync_playwright() as p:
        browser = chromium(p, voice_wav, microphone=False)
        page = agent_page(browser, center, "alice", language="zh-CN")
        wait_for(lambda: "alice" in phones(center), what="alice's phone registered")
        call = rings_and_is_answered(page, switch, "+8613800138503")
        expect(page.locator("#phone-error")).to_contain_text("麦克风", timeout=15000)
        expect(page.locator("#phone-call")).to_be_hidden()
        screenshot(page, "softphone-microphone-refused-zh")
        # The caller was not dropped: back in line (a missed offer for alice), still on the switch.
        wait_for(lambda: interaction_of(center, call)["state"] in ("queued", "offered"), what="the call waiting again")
        assert switch.exists(call)
        switch.api("hupall NORMAL_CLEARING")
        browser.close()


def test_a_browser_that_dies_mid_call_puts_the_caller_back_in_line(phone_center, voice_wav):
    center, switch = phone_center, phone_center["switch"]
    with sync_playwright() as p:
        browser = chromium(p, voice_wav)
        page = agent_page(browser, center, "alice")
        wait_for(lambda: "alice" in phones(center), what="alice's phone registered")
        call = rings_and_is_answered(page, switch, "+8613800138504")
        wait_for(lambda: interaction_of(center, call)["state"] == "active", what="talking")
        # The browser is killed (no BYE, no unregister): the WebSocket closing and the audio
        # stopping are all the switch learns.
        for pid in subprocess.run(["pgrep", "-f", str(voice_wav)], capture_output=True, text=True).stdout.split():
            os.kill(int(pid), signal.SIGKILL)
        wait_for(lambda: "alice" not in phones(center), timeout=30, what="alice's browser phone gone")
        # The caller is not left on a dead line: back in line for the next agent, still connected.
        wait_for(lambda: interaction_of(center, call)["state"] == "queued", timeout=40,
                 what="the caller waiting again without the agent's browser")
        assert switch.exists(call)
        assert "agent_phone_lost" in timeline(center, interaction_of(center, call)["id"])
        wait_for(lambda: not [c for c in switch.channels() if c.get("name", "").startswith("sofia/")],
                 what="no leg left to the dead browser")
        switch.api("hupall NORMAL_CLEARING")


# The widget keeps its call to itself: the test finds the page's peer connections this way.
KEEP_PEER_CONNECTIONS = """
  window.__pcs = [];
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = function (...args) { const pc = new Native(...args); window.__pcs.push(pc); return pc; };
  window.RTCPeerConnection.prototype = Native.prototype;
"""
VISITOR_AUDIO = """async () => {
  let found = {};
  for (const pc of window.__pcs) (await pc.getStats()).forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "audio") found = { bytes: r.bytesReceived, level: r.audioLevel || 0 };
  });
  return found;
}"""


def test_a_visitor_calls_from_the_chat_widget_and_talks_to_the_agents_browser(phone_center, voice_wav):
    center, switch = phone_center, phone_center["switch"]
    with sync_playwright() as p:
        browser = chromium(p, voice_wav)
        alice = agent_page(browser, center, "alice")
        wait_for(lambda: "alice" in phones(center), what="alice's phone registered")
        visitor = visitor_chatting(browser, center, "王小明", "zh-CN")
        visitor.fill(".composer textarea", "我想和客服通话")
        visitor.click(".composer button.send")
        expect(visitor.locator(".message.inbound")).to_have_attribute("data-state", "delivered")
        expect(visitor.locator(".title .call:not(.video)")).to_have_text("语音通话")
        visitor.click(".title .call:not(.video)")
        expect(visitor.locator(".call-bar .call-state")).to_have_text("正在呼叫…")
        # The visitor waits in line with music, like any caller; alice's browser rings.
        wait_for(lambda: visitor.evaluate(VISITOR_AUDIO).get("bytes", 0) > 0, what="music to the waiting visitor")
        expect(alice.locator("#phone-call")).to_have_attribute("data-view", "ringing", timeout=20000)
        screenshot(visitor, "widget-call-waiting-zh")
        alice.click("#phone-answer")
        expect(visitor.locator(".call-bar .call-state")).to_have_text("通话中", timeout=15000)
        expect(alice.locator("#phone-call")).to_have_attribute("data-view", "talking", timeout=15000)
        # Both hear each other: audio arrives and rises in both pages.
        before_visitor, before_alice = visitor.evaluate(VISITOR_AUDIO), inbound_audio(alice)
        time.sleep(3)
        after_visitor, after_alice = visitor.evaluate(VISITOR_AUDIO), inbound_audio(alice)
        assert after_visitor["bytes"] > before_visitor.get("bytes", 0) and after_visitor["level"] > 0.01, after_visitor
        assert after_alice["bytes"] > before_alice.get("bytes", 0) and after_alice["level"] > 0.01, after_alice
        screenshot(visitor, "widget-call-talking-zh")
        # One customer: the chat and the call are the same person in the inbox.
        with psycopg.connect(center["db"]) as conn:
            rows = conn.execute("SELECT channel, customer_id, state FROM interactions ORDER BY id").fetchall()
        channels = {r[0]: r for r in rows}
        assert set(channels) == {"chat", "voice"} and channels["chat"][1] == channels["voice"][1], rows
        assert channels["voice"][2] == "active"
        # The visitor hangs up: the agent's phone goes idle, the call is wrap-up, nothing left.
        visitor.click(".call-bar .hang-up")
        expect(visitor.locator(".call-bar")).to_be_hidden()
        expect(visitor.locator(".notice").last).to_have_text("通话已结束。")
        expect(alice.locator("#phone-call")).to_be_hidden(timeout=15000)
        wait_for(lambda: not switch.channels(), what="no channel left on the switch")
        browser.close()


def test_a_network_drop_mid_call_does_not_end_the_conversation(phone_center, voice_wav):
    """The SIP WebSocket closes (the network went away for a moment): the media goes on over
    its own path, the page reconnects and registers again, and the call carries on."""
    center, switch = phone_center, phone_center["switch"]
    with sync_playwright() as p:
        browser = chromium(p, voice_wav)
        page = agent_page(browser, center, "alice")
        wait_for(lambda: "alice" in phones(center), what="alice's phone registered")
        call = rings_and_is_answered(page, switch, "+8613800138505")
        record = wait_for(lambda: (r := interaction_of(center, call)) and r["state"] == "active" and r, what="talking")
        page.evaluate("""() => {
          const transport = cicPhone.session._ua._transport;
          transport.socket._ws.close();  // as a dropped network does
        }""")
        expect(page.locator("#phone-status")).to_have_attribute("data-state", "on", timeout=30000)
        time.sleep(12)  # past the media timeout: the conversation is still up
        assert interaction_of(center, call)["state"] == "active"
        before = inbound_audio(page)["bytes"]
        time.sleep(1)
        assert inbound_audio(page)["bytes"] > before
        # The engine hangs up: its BYE went to the dropped socket, but the page sees the audio
        # stop and ends the call on its side too.
        page.click(f'#mine .item[data-id="{record["id"]}"]')
        page.click('#call-controls [data-call="hangup"]')
        expect(page.locator("#phone-call")).to_be_hidden(timeout=20000)
        wait_for(lambda: not switch.channels(), what="no channel left on the switch")
        browser.close()


def test_a_visitor_who_closes_the_tab_while_it_rings_leaves_nothing_ringing(phone_center, voice_wav):
    center, switch = phone_center, phone_center["switch"]
    with sync_playwright() as p:
        browser = chromium(p, voice_wav)
        alice = agent_page(browser, center, "alice")
        wait_for(lambda: "alice" in phones(center), what="alice's phone registered")
        visitor = visitor_chatting(browser, center, "Li Lei")
        expect(visitor.locator(".title .call:not(.video)")).to_be_visible()
        visitor.click(".title .call:not(.video)")
        expect(alice.locator("#phone-call")).to_have_attribute("data-view", "ringing", timeout=20000)
        visitor.close()
        expect(alice.locator("#phone-call")).to_be_hidden(timeout=15000)
        with psycopg.connect(center["db"]) as conn:
            wait_for(lambda: conn.execute("SELECT state, outcome FROM interactions WHERE channel = 'voice'").fetchone()
                     == ("closed", "abandoned"), what="the call abandoned")
        wait_for(lambda: not switch.channels(), what="no channel left on the switch")
        browser.close()


VIDEO_FRAMES = """async () => {
  let frames = 0;
  for (const pc of PCS) (await pc.getStats()).forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "video") frames += r.framesDecoded || 0;
  });
  return frames;
}"""
VIDEO_IN_PAGE = VIDEO_FRAMES.replace("PCS", "window.__pcs")
VIDEO_IN_PHONE = VIDEO_FRAMES.replace("PCS", "[cicPhone.session.connection]")


def test_a_visitors_video_call_shows_both_pictures_or_is_a_voice_call_on_a_switch_without_vp8(
        phone_center, voice_wav):
    """VP8 goes through the switch only when its build has the codec (libvpx): then both sides
    see each other. The test suite's build (../shared/freeswitch) is made without libvpx: there
    the switch declines the video and the same call goes on as a voice call, with no empty
    picture on either side."""
    center, switch = phone_center, phone_center["switch"]
    has_vp8 = "VP8" in switch.api("show codec")
    with sync_playwright() as p:
        browser = chromium(p, voice_wav)
        alice = agent_page(browser, center, "alice")
        alice.click("#phone-devices summary")
        alice.check("#phone-allow-video")
        wait_for(lambda: "alice" in phones(center), what="alice's phone registered")
        visitor = visitor_chatting(browser, center, "Li Lei")
        visitor.click(".title .call.video")
        expect(alice.locator("#phone-call")).to_have_attribute("data-view", "ringing", timeout=20000)
        alice.click("#phone-answer")
        expect(visitor.locator(".call-bar .call-state")).to_have_text("On the call", timeout=15000)
        if has_vp8:
            # Each side decodes the other's camera (VP8 through the switch), and shows it.
            wait_for(lambda: visitor.evaluate(VIDEO_IN_PAGE) > 10, timeout=20, what="the agent's picture")
            wait_for(lambda: alice.evaluate(VIDEO_IN_PHONE) > 10, timeout=20, what="the visitor's picture")
            expect(alice.locator("#phone-video")).to_be_visible()
            expect(visitor.locator(".remote-video")).to_be_visible()
        else:
            for row in switch.channels():
                if row.get("name", "").startswith("sofia/cic_webcall/"):
                    assert "m=video 0 " in switch.var(row["uuid"], "rtp_local_sdp_str")  # declined, not broken
            wait_for(lambda: visitor.evaluate(VISITOR_AUDIO).get("level", 0) > 0.01, what="the agent heard")
            wait_for(lambda: inbound_audio(alice).get("level", 0) > 0.01, what="the visitor heard")
            expect(alice.locator("#phone-video")).to_be_hidden()
            expect(visitor.locator(".remote-video")).to_be_hidden()
        screenshot(alice, "softphone-video-call-en")
        screenshot(visitor, "widget-video-call-en")
        visitor.click(".call-bar .hang-up")
        expect(alice.locator("#phone-call")).to_be_hidden(timeout=15000)
        wait_for(lambda: not switch.channels(), what="no channel left on the switch")
        browser.close()
