"""The web chat socket, spoken to as the widget does: committed before acknowledged, resent
messages not doubled, a session sees only its own conversation, bad input answered clearly."""

from __future__ import annotations

import psycopg
import pytest

from tests.rejecting import refusing
from tests.waiting import wait_for
from tests.web.wsclient import Refused, WsClient


def chat(web, origin: str | None = None) -> WsClient:
    return WsClient(web.ws_base + "/chat/webchat/socket", origin=origin or web.base)


def start(web, name: str = "Wang Fang", email: str | None = None) -> tuple[WsClient, str]:
    ws = chat(web)
    ws.send({"type": "start", "name": name, **({"email": email} if email else {})})
    session = ws.receive_until("session")
    assert session["greeting"] == "Hello from the test"
    return ws, session["token"]


def stored(web, sql: str, *args):
    with psycopg.connect(web.db_url) as conn:
        return conn.execute(sql, args).fetchall()


def test_a_message_is_stored_before_its_ack_and_a_resend_is_not_doubled(web):
    ws, _ = start(web, email="Wang.Fang@Example.cn")
    ws.send({"type": "message", "id": "client-msg-0001", "text": "我的订单在哪里？"})
    ack = ws.receive_until("ack")
    key = stored(web, "SELECT key FROM chat_sessions")[0][0]
    rows = stored(web, "SELECT id, sender, metadata ->> 'claimed_email' FROM messages WHERE channel = 'chat'")
    assert rows == [(ack["message_id"], key, "wang.fang@example.cn")]
    ws.send({"type": "message", "id": "client-msg-0001", "text": "我的订单在哪里？"})  # the widget resends after a drop
    assert ws.receive_until("ack")["message_id"] == ack["message_id"]
    assert len(stored(web, "SELECT id FROM messages WHERE channel = 'chat'")) == 1
    # The typed address is a claim: the chat is its own customer until the address is proved.
    assert stored(web, "SELECT kind, value FROM customer_identities") == [("chat", key)]
    assert stored(web, "SELECT channel, state, subject IS NULL FROM interactions") == [("chat", "queued", True)]


def test_agent_accepts_replies_and_a_resumed_widget_gets_what_it_missed(web):
    alice = web.api().login("alice")
    assert alice.call("POST", "/api/me/state", {"state": "available"})[0] == 200
    ws, token = start(web)
    ws.send({"type": "message", "id": "first-message-1", "text": "Hello, anyone there?"})
    ws.receive_until("ack")
    offer = wait_for(lambda: alice.call("GET", "/api/work")[1]["offers"])[0]
    assert offer["channel"] == "chat" and offer["customer_name"] == "Wang Fang"
    assert alice.call("POST", f"/api/interactions/{offer['id']}/accept", {})[0] == 200
    assert ws.receive_until("notice")["text"] == "Alice Chen joined the chat."
    ws.close()  # the customer's connection drops; the agent answers meanwhile
    assert alice.call("POST", f"/api/interactions/{offer['id']}/reply", {"text": "Yes, Alice here."})[0] == 202

    resumed = chat(web)
    resumed.send({"type": "resume", "token": token, "after": 0})
    assert resumed.receive_until("session")["name"] == "Wang Fang"
    first = resumed.receive_until("message")
    assert (first["direction"], first["text"], first["id"]) == ("inbound", "Hello, anyone there?", "first-message-1")
    reply = resumed.receive_until("message")
    assert (reply["direction"], reply["text"], reply["author"]) == ("outbound", "Yes, Alice here.", "Alice Chen")
    # Live from now on: the next reply is pushed without asking.
    alice.call("POST", f"/api/interactions/{offer['id']}/reply", {"text": "How can I help?"})
    assert resumed.receive_until("message")["text"] == "How can I help?"
    # And the customer's answer reaches the agent's view.
    resumed.send({"type": "message", "id": "second-message", "text": "My parcel is late."})
    resumed.receive_until("ack")
    texts = [m["text"] for m in alice.call("GET", f"/api/interactions/{offer['id']}")[1]["messages"]]
    assert texts == ["Hello, anyone there?", "Yes, Alice here.", "How can I help?", "My parcel is late."]


def test_a_session_sees_only_its_own_conversation(web):
    one, _ = start(web, name="One")
    one.send({"type": "message", "id": "secret-of-one", "text": "my card ends 4242"})
    one.receive_until("ack")
    two, token_two = start(web, name="Two")
    two.send({"type": "message", "id": "hello-from-two", "text": "hello"})
    two.receive_until("ack")
    again = chat(web)
    again.send({"type": "resume", "token": token_two, "after": 0})
    again.receive_until("session")
    assert again.receive_until("message")["text"] == "hello"
    with pytest.raises(TimeoutError):
        again.receive(timeout=1.0)  # nothing else, of anyone's
    forged = chat(web)
    forged.send({"type": "resume", "token": "not-a-token-anyone-was-given"})
    assert forged.receive_until("error")["code"] == "unknown-session"
    forged.send({"type": "message", "id": "sneaky-message", "text": "hi"})
    assert forged.receive_until("error")["error"] == "start or resume the chat first"
    assert len(stored(web, "SELECT id FROM messages")) == 2


def test_chat_from_a_site_not_allowed_is_refused(web):
    with pytest.raises(Refused) as refused:
        chat(web, origin="https://evil.example")
    assert refused.value.status == 403


def test_bad_input_gets_a_clear_answer_and_the_chat_goes_on(web):
    ws, _ = start(web)
    ws.send("this is not json")
    assert ws.receive_until("error")["error"].startswith("messages must be JSON objects; this message could not "
                                                         "be taken in; it is kept for our team (reference R")
    ws.send({"type": "message", "id": "too-long-text", "text": "x" * 5000})
    nack = ws.receive_until("nack")
    assert nack["id"] == "too-long-text" and "over 4000 characters" in nack["error"]
    ws.send({"type": "message", "id": "bad id!", "text": "hi"})
    assert "needs an id" in ws.receive_until("error")["error"]
    ws.send({"type": "message", "id": "after-the-bad", "text": "<img src=x onerror=alert(1)>"})
    ws.receive_until("ack")
    # Stored as the customer wrote it; every page puts it on screen as text (see the browser test).
    assert stored(web, "SELECT body FROM message_parts") == [("<img src=x onerror=alert(1)>",)]
    ws.send("x" * 11 * 1024 * 1024)  # a frame over the socket's limit: closed with "message too big"
    while ws.receive(timeout=5) is not None:
        pass  # the echo of the message before
    assert ws.closed == 1009


def test_typing_travels_between_customer_and_agent(web):
    alice = web.api().login("alice")
    alice.call("POST", "/api/me/state", {"state": "available"})
    ws, _ = start(web)
    ws.send({"type": "message", "id": "typing-test-1", "text": "hi"})
    ws.receive_until("ack")
    offer = wait_for(lambda: alice.call("GET", "/api/work")[1]["offers"])[0]
    alice.call("POST", f"/api/interactions/{offer['id']}/accept", {})
    live = WsClient(web.ws_base + "/api/live", origin=web.base, cookie=alice.cookie)
    live.receive_until("hello")
    ws.send({"type": "typing"})
    while (event := live.receive_until("event"))["event"] != "chat.typing":
        pass
    assert event["interaction_id"] == offer["id"] and event["data"] == {"who": "customer"}
    live.send({"type": "typing", "interaction_id": offer["id"]})
    assert ws.receive_until("typing") == {"type": "typing"}


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200


def send_file(ws, client_id: str, filename: str, content_type: str, content: bytes) -> dict:
    import base64

    ws.send({"type": "file", "id": client_id, "filename": filename, "content_type": content_type,
             "data": base64.b64encode(content).decode()})
    while True:
        answer = ws.receive(timeout=10)
        assert answer is not None, "socket closed"
        if answer.get("type") in ("ack", "nack"):
            return answer


def test_files_are_checked_then_reach_the_agent_as_downloads(web):
    ws, _ = start(web)
    too_big = send_file(ws, "too-big-file", "scan.pdf", "application/pdf", b"%PDF-" + b"0" * (6 * 1024 * 1024))
    assert too_big == {"type": "nack", "id": "too-big-file", "error": "the file is 6.0 MB; the limit is 5 MB"}
    html = send_file(ws, "html-as-page", "page.html", "text/html", b"<script>alert(1)</script>")
    assert "files of type text/html are not accepted" in html["error"]
    disguised = send_file(ws, "exe-as-png", "photo.png", "image/png", b"MZ\x90\x00" + b"\x00" * 100)
    assert disguised["error"] == "the file is not really image/png"
    good = send_file(ws, "real-picture", "photo.png", "image/png", PNG)
    assert good["type"] == "ack"
    assert stored(web, "SELECT filename, content_type, size FROM attachments") == [("photo.png", "image/png", len(PNG))]

    interaction_id = stored(web, "SELECT id FROM interactions")[0][0]
    alice = web.api().login("alice")
    status, view = alice.call("GET", f"/api/interactions/{interaction_id}")
    attachment = view["messages"][0]["attachments"][0]
    assert (view["messages"][0]["text"], attachment["filename"]) == ("[file: photo.png]", "photo.png")
    import urllib.request

    request = urllib.request.Request(web.base + f"/api/attachments/{attachment['id']}")
    with alice.opener.open(request, timeout=10) as response:
        assert response.read() == PNG
        assert response.headers["Content-Disposition"] == 'attachment; filename=photo.png'
        assert response.headers["Content-Type"] == "application/octet-stream"  # never rendered in our origin
    assert web.api().login("bob").call("GET", f"/api/attachments/{attachment['id']}")[0] == 404


def test_a_nul_in_a_chat_message_is_removed_and_flagged_and_the_chat_goes_on(web):
    ws, _ = start(web, name="Odd Bytes")
    ws.send('{"type": "message", "id": "nul-message-1", "text": "order\\u0000 1234"}')
    first = ws.receive_until("ack")
    ws.send("not json at all {")
    error = ws.receive_until("error")
    assert error["error"] == ("messages must be JSON objects; this message could not be taken in; it is kept for "
                              f"our team (reference R{error['rejected']})")
    ws.send({"type": "message", "id": "after-the-bad-one", "text": "still here"})
    ws.receive_until("ack")
    rows = stored(web, """SELECT p.body, m.metadata ->> 'problems' FROM messages m
                          JOIN message_parts p ON p.message_id = m.id WHERE m.id = %s""", first["message_id"])
    assert rows == [("order 1234", "text held NUL characters, which cannot be stored; they were removed")]
    key = stored(web, "SELECT key FROM chat_sessions")[0][0]
    assert stored(web, "SELECT id, channel, adapter, reason, source, raw FROM rejected_contacts") == [
        (error["rejected"], "chat", "webchat", "not a chat message: JSONDecodeError: Expecting value: line 1 column 1 "
         "(char 0)", {"chat": key}, b"not json at all {")]


def test_a_chat_message_the_database_refuses_is_kept_for_supervisors_who_reingest_it(web, store):
    ws, _ = start(web, name="Li Lei")
    with refusing(store, "message_parts", "NEW.body LIKE '%退款%'") as lift:
        ws.send({"type": "message", "id": "refund-message-1", "text": "我要退款"})
        nack = ws.receive_until("nack")
        assert nack["error"] == f"this message could not be taken in; it is kept for our team (reference R{nack['rejected']})"
        ws.send({"type": "message", "id": "next-message-1", "text": "还在吗"})
        ws.receive_until("ack")  # the chat goes on
        sue, alice = web.api().login("sue"), web.api().login("alice")
        status, board = sue.call("GET", "/api/board")
        [shown] = board["rejected"]
        assert (shown["id"], shown["channel"], shown["adapter"]) == (nack["rejected"], "chat", "webchat")
        assert shown["reason"].startswith("CheckViolation") and shown["source"]["client_id"] == "refund-message-1"
        assert alice.call("POST", f"/api/rejected/{nack['rejected']}/reingest")[0] == 403  # agents do not
        lift(store, "message_parts")
        status, body = sue.call("POST", f"/api/rejected/{nack['rejected']}/reingest")
        assert status == 202 and body["reingest_requested"] is True
    [(sender, external_id)] = wait_for(lambda: stored(web, """SELECT m.sender, m.external_id FROM messages m
                                       JOIN message_parts p ON p.message_id = m.id WHERE p.body = '我要退款'"""),
                                       what="re-ingested")
    assert external_id.endswith(":refund-message-1")  # the same id: a resend from the widget is not doubled
    assert wait_for(lambda: sue.call("GET", "/api/board")[1]["rejected"] == [], what="off the board")
    assert sue.call("POST", f"/api/rejected/{nack['rejected']}/reingest")[0] == 404


def test_messages_arriving_together_share_a_commit_and_each_is_acknowledged_after_it(web):
    """Customers typing at once (five: one address's chat limit): their messages go to the
    database together (one commit for those that arrive while the last is being written), and no
    ack comes before its message is stored."""
    from concurrent.futures import ThreadPoolExecutor

    chats = [start(web, name=f"Customer {n}")[0] for n in range(5)]
    acks: list[dict] = []

    def talk(n: int, ws: WsClient) -> None:
        for i in range(8):
            ws.send({"type": "message", "id": f"burst-{n:02d}-{i:03d}", "text": f"消息 {i} from customer {n}"})
        acks.extend(ws.receive_until("ack") for _ in range(8))

    with ThreadPoolExecutor(len(chats)) as pool:
        list(pool.map(talk, range(len(chats)), chats))
    assert len(acks) == 40
    rows = stored(web, "SELECT id, external_id, xmin::text FROM messages WHERE channel = 'chat' ORDER BY id")
    assert sorted(a["message_id"] for a in acks) == [r[0] for r in rows]  # every ack names a stored message
    for n in range(5):  # each customer's messages stored in the order sent
        mine = [r[1].rsplit(":", 1)[1] for r in rows if r[1].rsplit(":", 1)[1].startswith(f"burst-{n:02d}-")]
        assert mine == [f"burst-{n:02d}-{i:03d}" for i in range(8)]
    assert len({r[2] for r in rows}) < 40, "every message had a commit of its own"
