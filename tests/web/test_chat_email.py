"""Web chat with the email channel set up (real Dovecot and aiosmtpd): the offline form when the
chat queue is closed, the transcript emailed on request, and a chat answered by email."""

from __future__ import annotations

import re
import textwrap

import pytest

from tests.mailservers.dovecot import PASSWORD as MAIL_PASSWORD
from tests.mailservers.dovecot import Dovecot
from tests.mailservers.smtp import SmtpServer
from tests.waiting import wait_for
from tests.web.conftest import HASH
from tests.web.test_chat_socket import chat, stored
from tests.web.test_chat_socket import start as start_chat

MAILBOX = "support@example.com"


@pytest.fixture
def mail():
    dovecot, smtp = Dovecot().start(), SmtpServer().start()
    yield dovecot, smtp
    smtp.stop()
    dovecot.remove()


def email_channel(dovecot, smtp) -> dict[str, str]:
    return {"support": textwrap.dedent(f"""\
        kind = "email"
        address = "{MAILBOX}"
        display_name = "Example Support"
        queue = "general"
        [imap]
        host = "127.0.0.1"
        port = {dovecot.port}
        security = "none"
        username = "{MAILBOX}"
        password = "{MAIL_PASSWORD}"
        [smtp]
        host = "127.0.0.1"
        port = {smtp.port}
        security = "none"
        """)}


def test_the_offline_form_becomes_an_email_interaction_answered_by_email(start_web, mail):
    dovecot, smtp = mail
    # Hours with no open span: the queue is closed whenever the test runs.
    closed = textwrap.dedent(f"""\
        [[queues]]
        name = "closed"
        channels = ["chat", "email"]
        hours = {{ timezone = "UTC" }}
        [[agents]]
        login = "carol"
        name = "Carol"
        queues = ["closed"]
        password_hash = "{HASH}"
        """)
    web = start_web(chat_queue="closed", cic_extra=closed, channels=email_channel(dovecot, smtp))
    settings = web.api().call("GET", "/chat/webchat/settings")[1]
    assert (settings["open"], settings["transcripts"]) == (False, True)
    ws = chat(web)
    ws.send({"type": "offline", "id": "offline-form-1", "name": "Night Owl", "email": "owl@example.org",
             "text": "Please call me back tomorrow."})
    assert ws.receive_until("ack")["offline"] is True
    assert stored(web, "SELECT channel, subject FROM interactions") == [
        ("email", "Message from the web site (chat was closed)")]
    carol = web.api().login("carol")
    carol.call("POST", "/api/me/state", {"state": "available"})
    offer = wait_for(lambda: carol.call("GET", "/api/work")[1]["offers"])[0]
    carol.call("POST", f"/api/interactions/{offer['id']}/accept", {})
    assert carol.call("POST", f"/api/interactions/{offer['id']}/reply", {"text": "We will call you at 9."})[0] == 202
    assert smtp.arrived.wait(20)
    sent = smtp.received[0]
    assert (sent["To"], sent["From"].addresses[0].addr_spec) == ("owl@example.org", MAILBOX)
    assert "We will call you at 9." in sent.get_body(("plain",)).get_content()


def confirm_email(ws, smtp, email: str) -> None:
    """The customer asks for a code, reads it in the mail and types it into the chat."""
    ws.send({"type": "verify_email"})
    assert ws.receive_until("code_sent")["email"] == email
    assert smtp.arrived.wait(20)
    mail = smtp.received.pop()
    smtp.arrived.clear()
    assert mail["To"] == email
    code = re.fullmatch(r"Your code: (\d{6})", mail["Subject"]).group(1)
    ws.send({"type": "verify_code", "code": code})
    assert ws.receive_until("verified")["email"] == email


def test_transcript_on_request_and_a_chat_answered_by_email(start_web, mail):
    dovecot, smtp = mail
    web = start_web(channels=email_channel(dovecot, smtp))
    alice = web.api().login("alice")
    alice.call("POST", "/api/me/state", {"state": "available"})
    ws, _ = start_chat(web, name="Mail Me", email="mail.me@example.org")
    ws.send({"type": "message", "id": "hello-message", "text": "Hello"})
    ws.receive_until("ack")
    interaction_id = wait_for(lambda: alice.call("GET", "/api/work")[1]["offers"])[0]["id"]
    alice.call("POST", f"/api/interactions/{interaction_id}/accept", {})
    assert alice.call("POST", f"/api/interactions/{interaction_id}/reply", {"text": "Hi, Alice here."})[0] == 202

    # The address is only what the visitor typed: nothing is mailed to it until they prove it.
    status, body = alice.call("POST", f"/api/interactions/{interaction_id}/reply",
                              {"text": "Your refund is done.", "channel": "email"})
    assert status == 409 and body["error"] == "the customer has no email on file to answer by email"
    confirm_email(ws, smtp, "mail.me@example.org")

    # The customer left the page; the agent answers by email instead.
    status, _ = alice.call("POST", f"/api/interactions/{interaction_id}/reply",
                           {"text": "Your refund is done.", "channel": "email"})
    assert status == 202
    assert smtp.arrived.wait(20)
    by_email = smtp.received[0]
    assert by_email["To"] == "mail.me@example.org" and by_email["Message-ID"].endswith("@example.com>")
    assert "Your refund is done." in by_email.get_body(("plain",)).get_content()
    status, body = alice.call("POST", f"/api/interactions/{interaction_id}/reply", {"text": "x", "channel": "sms"})
    assert status == 409 and body["error"] == "no sms channel is set up to answer on"

    ws, _ = start_chat(web)  # another visitor, who gave no email address
    ws.send({"type": "message", "id": "no-address-msg", "text": "hi"})
    ws.receive_until("ack")
    ws.send({"type": "transcript"})
    assert ws.receive_until("error")["error"] == "no email address was given at the start of the chat"


def test_the_widget_asks_for_the_transcript(start_web, mail):
    dovecot, smtp = mail
    web = start_web(channels=email_channel(dovecot, smtp))
    alice = web.api().login("alice")
    alice.call("POST", "/api/me/state", {"state": "available"})
    ws, _ = start_chat(web, name="Mail Me", email="mail.me@example.org")
    ws.send({"type": "message", "id": "question-one", "text": "Where is my order 1234?"})
    ws.receive_until("ack")
    offer = wait_for(lambda: alice.call("GET", "/api/work")[1]["offers"])[0]
    alice.call("POST", f"/api/interactions/{offer['id']}/accept", {})
    alice.call("POST", f"/api/interactions/{offer['id']}/reply", {"text": "It ships today."})
    while ws.receive_until("message")["direction"] != "outbound":
        pass
    ws.send({"type": "transcript"})  # to an address nobody proved: refused
    assert ws.receive_until("error") == {"type": "error", "code": "unverified",
                                         "error": "confirm your email address first"}
    confirm_email(ws, smtp, "mail.me@example.org")
    ws.send({"type": "transcript"})
    while (notice := ws.receive_until("notice")["text"]) == "Alice Chen joined the chat.":
        pass
    assert notice == "The transcript is on its way to mail.me@example.org."
    assert smtp.arrived.wait(20)
    transcript = smtp.received[0]
    assert transcript["Subject"] == "Your chat transcript (Chat with Example)"
    body = transcript.get_body(("plain",)).get_content()
    assert "Mail Me: Where is my order 1234?" in body and "Alice Chen: It ships today." in body
