"""Call controls through the inbox's HTTP API, as the browser asks them: the agent's own call,
click-to-call, and supervision limited to supervisors."""

from __future__ import annotations

import gevent
import psycopg
import pytest

from cic_engine.web.auth import hash_password
from tests.voice.conftest import interaction, wait_for
from tests.web.conftest import PASSWORD, Api

pytestmark = pytest.mark.timeout(120)


class InboxClient:
    """The inbox API, asked from a worker thread: the simulated switch runs on this process's
    gevent hub and must keep answering the engine while a request waits."""

    def __init__(self, api: Api):
        self.api = api

    def call(self, *args):
        return gevent.get_hub().threadpool.apply(self.api.call, args)


@pytest.fixture
def logins(engine, db_url):
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("UPDATE agents SET password_hash = %s", (hash_password(PASSWORD),))
        conn.execute("UPDATE agents SET roles = '{agent,supervisor}' WHERE login = 'bob'")

    def log_in(login: str) -> InboxClient:
        return InboxClient(Api(f"http://127.0.0.1:{engine['web']}").login(login))
    return log_in


def test_the_agent_holds_and_hangs_up_from_the_inbox(engine, switch, routing, store, logins):
    call = switch.call(engine["outbound"], "+86 138 0013 8000")
    wait_for(lambda: interaction(store, call.uuid), what="the call committed")
    alice = logins("alice")
    alice.call("POST", "/api/me/state", {"state": "available"})
    wait_for(lambda: call.bridged_to == "alice", what="the bridge to alice")
    interaction_id = wait_for(lambda: (i := interaction(store, call.uuid))["state"] == "active" and i)["id"]

    assert alice.call("POST", f"/api/interactions/{interaction_id}/call/hold", {}) == (200, {"held": True})
    assert call.playing == "local_stream://moh"  # the caller hears the music on hold
    status, body = alice.call("POST", f"/api/interactions/{interaction_id}/call/hold", {})
    assert status == 409 and "already on hold" in body["error"]
    assert alice.call("POST", f"/api/interactions/{interaction_id}/call/unhold", {})[0] == 200
    status, body = alice.call("POST", f"/api/interactions/{interaction_id}/call/transfer", {"to": "moon", "target": "x"})
    assert status == 400 and "goes to queue or agent or number" in body["error"]
    assert alice.call("POST", f"/api/interactions/{interaction_id}/call/explode", {})[0] == 404

    # Listening in is for supervisors: bob is one, alice is not.
    status, _ = alice.call("POST", f"/api/interactions/{interaction_id}/supervise", {"mode": "listen"})
    assert status == 403
    bob = logins("bob")
    assert bob.call("POST", f"/api/interactions/{interaction_id}/supervise", {"mode": "listen"})[0] == 200
    line = switch.leg("bob")
    assert (line.application, line.mode) == ("eavesdrop", "listen")

    assert alice.call("POST", f"/api/interactions/{interaction_id}/call/hangup", {})[0] == 200
    call.wait()
    assert wait_for(lambda: interaction(store, call.uuid)["state"] == "wrap_up", what="wrap-up")


def test_click_to_call_from_the_inbox(engine, switch, routing, logins):
    alice = logins("alice")
    status, body = alice.call("POST", "/api/calls", {"number": "138 0013 8000"})
    assert status == 409 and "cannot make a call now" in body["error"]
    alice.call("POST", "/api/me/state", {"state": "available"})
    status, made = alice.call("POST", "/api/calls", {"number": "138 0013 8000"})
    assert status == 200 and made["number"] == "+8613800138000"
    customer = wait_for(lambda: [leg for leg in switch.legs if leg.name == "+8613800138000"], what="the customer")[0]
    status, view = alice.call("GET", f"/api/interactions/{made['interaction_id']}")
    assert status == 200 and view["interaction"]["direction"] == "outbound"
    customer.hang_up()
