"""Per-channel capacity (agent and queue), and voice blending."""

from __future__ import annotations

from .conftest import agents


def test_agent_takes_chats_up_to_capacity_and_no_more(make_desk):
    desk = make_desk(agents=agents("alice"))
    chats = [desk.contact("chat") for _ in range(5)]
    desk.available("alice")
    desk.route()
    assert sorted(desk.offers()) == chats[:3]  # default chat capacity 3
    assert desk.routing.status(desk.agent("alice")).loads[3] == 3


def test_agent_capacity_override_and_channels_are_counted_apart(make_desk):
    desk = make_desk(agents=agents("alice", capacity={"chat": 1, "email": 2}))
    chats = [desk.contact("chat") for _ in range(2)]
    emails = [desk.contact("email") for _ in range(3)]
    desk.available("alice")
    desk.route()
    assert sorted(desk.offers()) == [chats[0], *emails[:2]]


def test_queue_capacity_limits_how_loaded_an_agent_may_be_for_its_interactions(make_desk):
    desk = make_desk(
        queues=[{"name": "general"}, {"name": "vip-chat", "capacity": {"chat": 1}}],
        agents=agents("alice", queues=["general", "vip-chat"]),
    )
    normal = desk.contact("chat")
    desk.available("alice")
    desk.route()
    assert desk.offered_to(normal) == ["alice"]
    vip = desk.contact("chat", queue="vip-chat")
    desk.route()
    assert desk.state(vip) == "queued"  # she already holds a chat: this queue wants full attention
    desk.routing.reject(normal, desk.agent("alice"))
    desk.route()
    assert desk.offered_to(vip) == ["alice"]


def test_no_new_chat_while_on_a_call_when_voice_is_exclusive(make_desk):
    desk = make_desk(agents=agents("alice"))
    alice = desk.agent("alice")
    call = desk.handling("voice", "alice")
    chat = desk.contact("chat")
    desk.route()
    assert desk.state(chat) == "queued"
    desk.routing.end(call, alice)
    desk.routing.complete_wrap_up(call, alice)
    desk.route()
    assert desk.offered_to(chat) == ["alice"]


def test_blending_agent_may_chat_while_on_a_call(make_desk):
    desk = make_desk(agents=agents("alice", voice_exclusive=False))
    desk.handling("voice", "alice")
    chat = desk.contact("chat")
    desk.route()
    assert desk.offered_to(chat) == ["alice"]


def test_agents_only_get_interactions_of_their_queues_and_channels(make_desk):
    desk = make_desk(
        queues=[{"name": "general", "channels": ["email"]}, {"name": "phones", "channels": ["voice"]}],
        agents=agents("alice") + [{"login": "bob", "name": "Bob", "queues": ["phones"]}],
    )
    mail = desk.contact("email")
    call = desk.contact("voice", queue="phones")
    desk.available("alice", "bob")
    desk.route()
    assert desk.offers() == {mail: ["alice"], call: ["bob"]}
