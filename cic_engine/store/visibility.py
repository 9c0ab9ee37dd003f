"""Who may see what, in SQL: the one visibility model every read and every action goes through.

- An agent sees the interactions of the queues they work (and any offered to or held by them),
  and through those: their customers, the customers' history, cases, files and recordings.
- A supervisor sees the same through the queues they are a member of; an admin sees everything.
- A department user sees their department's cases (and what those cases link to), nothing else.

Not visible and not existing look the same to callers (404), so ids cannot be probed.
"""

from __future__ import annotations

from typing import Any, Protocol

from . import Conn


class Viewer(Protocol):
    agent_id: int | None
    roles: frozenset[str]
    queue_ids: frozenset[int]
    department_id: int | None




def _through_queues(alias: str) -> str:
    return f"""({alias}.queue_id = ANY(%(queues)s::bigint[]) OR {alias}.extra_queue_ids && %(queues)s::bigint[]
                OR {alias}.assigned_agent_id = %(agent)s OR %(agent)s = ANY({alias}.offered_to))"""


# True when the viewer may see interaction i (the alias in the statement it is put into). One
# that needed no agent (an opt-out text, a survey answer) is in no queue: it is seen by whoever
# sees one of the customer's other interactions.
INTERACTION = f"""(%(all)s OR {_through_queues("i")} OR (i.queue_id IS NULL AND EXISTS (
                     SELECT FROM interactions o WHERE o.customer_id = i.customer_id AND o.queue_id IS NOT NULL
                     AND {_through_queues("o")})))"""
# True when the viewer may see case c: through one of its interactions, or as its department.
CASE = f"""(%(all)s OR c.department_id = %(department)s OR (%(works)s AND EXISTS (
              SELECT FROM case_interactions ci JOIN interactions i ON i.id = ci.interaction_id
              WHERE ci.case_id = c.id AND {INTERACTION})))"""
# True when the viewer may see customer cu: one of the customer's interactions is visible.
CUSTOMER = f"""(%(all)s OR (%(works)s AND EXISTS (SELECT FROM interactions i WHERE i.customer_id = cu.id
                                                     AND {INTERACTION})))"""


def who(viewer: Viewer) -> dict[str, Any]:
    """The statement parameters the predicates above use."""
    works = bool(viewer.roles & {"agent", "supervisor", "admin"})
    return {"all": viewer.agent_id is None or "admin" in viewer.roles,  # the engine itself, or an admin
            "works": works, "queues": sorted(viewer.queue_ids) if works else [],
            "agent": viewer.agent_id if works else None,
            "department": viewer.department_id if "department" in viewer.roles else None}


def interaction(conn: Conn, viewer: Viewer, interaction_id: int) -> bool:
    """An agent, supervisor or admin may open it; a department user through one of their cases."""
    row = conn.execute(
        f"""SELECT {INTERACTION} OR EXISTS (SELECT FROM case_interactions ci JOIN cases c ON c.id = ci.case_id
                                             WHERE ci.interaction_id = i.id AND c.department_id = %(department)s)
            FROM interactions i WHERE i.id = %(id)s""",  # noqa: S608 - constant
        {**who(viewer), "id": interaction_id}).fetchone()
    return bool(row and row[0])


def customer(conn: Conn, viewer: Viewer, customer_id: int) -> bool:
    row = conn.execute(f"SELECT {CUSTOMER} FROM customers cu WHERE cu.id = %(id)s",  # noqa: S608 - constant
                       {**who(viewer), "id": customer_id}).fetchone()
    return bool(row and row[0])


def case(conn: Conn, viewer: Viewer, case_id: int) -> bool:
    row = conn.execute(f"SELECT {CASE} FROM cases c WHERE c.id = %(id)s",  # noqa: S608 - constant
                       {**who(viewer), "id": case_id}).fetchone()
    return bool(row and row[0])


def agent(conn: Conn, viewer: Viewer, agent_id: int) -> bool:
    """A supervisor acts on (and sees on the board) the agents who share one of their queues."""
    if "admin" in viewer.roles or viewer.agent_id is None:
        return True
    row = conn.execute("SELECT EXISTS (SELECT FROM agent_queues WHERE agent_id = %s AND queue_id = ANY(%s::bigint[]))",
                       (agent_id, sorted(viewer.queue_ids))).fetchone()
    return bool(row and row[0])
