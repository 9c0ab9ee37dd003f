"""Several engine processes on one PostgreSQL: 200 agents, 5,000 interactions across channels.
Checked from the timeline afterwards: no interaction offered twice at once, no agent ever over
capacity, nothing lost."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from cic_engine.models import Channel
from cic_engine.settings.routing import CHANNEL_SLOTS
from tests import processes

from .conftest import Desk, config

WORKER = Path(__file__).with_name("cluster_worker.py")
AGENTS, INTERACTIONS, PROCESSES = 200, 5000, 2
CHANNELS = [Channel.voice, Channel.email, Channel.sms, Channel.chat, Channel.fax]
RELEASES = {"offer_rejected", "offer_timeout", "offer_withdrawn", "closed"}


@pytest.mark.timeout(600)
def test_two_engine_processes_route_5000_interactions_to_200_agents_safely(store, clock, db_url, tmp_path):
    cic = config(
        queues=[{"name": "general", "wrap_up_s": 5}, {"name": "vip", "priority": 20, "wrap_up_s": 0}],
        agents=[{"login": f"agent{i:03d}", "name": f"Agent {i}", "queues": ["general", "vip"] if i % 2 else ["general"],
                 "capacity": {"chat": 1 + i % 3}} for i in range(AGENTS)],
    )
    desk = Desk(store, clock, cic)
    ids = [desk.contact(CHANNELS[n % 5].value, queue="vip" if n % 7 == 0 else None, customer=n % 900)
           for n in range(INTERACTIONS)]
    assert len(set(ids)) > 1000
    with store.transaction() as conn:
        conn.execute("UPDATE agents SET presence = 'available', updated_at = now()")
        caps = {r[0]: list(r[1]) for r in conn.execute("SELECT id, caps FROM agents").fetchall()}
    (tmp_path / "cic.json").write_text(cic.model_dump_json())

    procs = [processes.spawn([sys.executable, str(WORKER), db_url, str(tmp_path / "cic.json"), str(seed)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for seed in range(PROCESSES)]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    stats = [json.loads(p.communicate(timeout=500)[0].strip().splitlines()[-1]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert all(s["passes"] > 0 and s["accepted"] > 0 for s in stats), stats

    with store.transaction() as conn:
        states = dict(conn.execute("SELECT state, count(*) FROM interactions GROUP BY state").fetchall())
        events = conn.execute(
            """SELECT id, kind, interaction_id, agent_id, data->>'channel', (data->>'release')::boolean
               FROM timeline_events WHERE agent_id IS NOT NULL AND kind <> 'agent_state' ORDER BY id""").fetchall()
        loads = conn.execute("SELECT loads, wrap_ups FROM agents").fetchall()
    assert states == {"closed": len(set(ids))}  # nothing lost, nothing left
    assert all(sum(row[0]) == 0 and row[1] == 0 for row in loads)

    outstanding: dict[int, int] = {}  # interaction -> agent holding its offer
    held: dict[int, list[int]] = defaultdict(lambda: [0] * 5)
    offers = accepted = 0
    for _, kind, interaction_id, agent_id, channel, release in events:
        slot = CHANNEL_SLOTS.index(Channel(channel))
        if kind == "offered":
            assert interaction_id not in outstanding, f"interaction {interaction_id} offered twice at once"
            outstanding[interaction_id] = agent_id
            held[agent_id][slot] += 1
            assert held[agent_id][slot] <= caps[agent_id][slot], f"agent {agent_id} over capacity on {channel}"
            offers += 1
        elif kind == "accepted":
            assert outstanding.pop(interaction_id) == agent_id
            accepted += 1
        elif kind in ("offer_rejected", "offer_timeout", "offer_withdrawn"):
            assert outstanding.pop(interaction_id) == agent_id
        if release:
            assert kind in RELEASES
            held[agent_id][slot] -= 1
            assert held[agent_id][slot] >= 0
    assert not outstanding
    assert accepted == len(set(ids)) and offers >= accepted
    assert all(v == [0] * 5 for v in held.values())
