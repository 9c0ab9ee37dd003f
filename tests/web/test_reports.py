"""The KPI report over HTTP: for supervisors only, as JSON or CSV, with its range and options
checked."""

from __future__ import annotations

import urllib.request

from tests.waiting import wait_for
from tests.web.test_chat_socket import start as start_chat


def test_supervisors_get_kpis_as_json_and_csv_and_agents_do_not(web):
    ws, _ = start_chat(web, name="Li Lei")
    ws.send({"type": "message", "id": "kpi-00000001", "text": "Hello"})
    ws.receive_until("ack")
    sue = web.api().login("sue")
    status, report = wait_for(lambda: (r := sue.call("GET", "/api/reports/kpi?interval=15min&group=queue"))[1]["rows"]
                              and r, what="the chat in the report")
    assert status == 200 and report["interval"] == "15min"
    [row] = report["rows"]
    assert (row["key"], row["offered"], row["answered"]) == ("chat", 1, 0)
    request = urllib.request.Request(web.base + "/api/reports/kpi?format=csv&group=channel",
                                     headers={"Cookie": sue.cookie})
    with urllib.request.urlopen(request, timeout=20) as response:
        assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert "attachment" in response.headers["Content-Disposition"]
        lines = response.read().decode().splitlines()
    assert lines[0].startswith("interval,key,offered") and lines[1].split(",")[1:3] == ["chat", "1"]
    assert web.api().login("alice").call("GET", "/api/reports/kpi")[0] == 403
    assert sue.call("GET", "/api/reports/kpi?interval=week")[0] == 400
    assert sue.call("GET", "/api/reports/kpi?from=2026-01-02&to=2026-01-01")[0] == 400
    assert sue.call("GET", "/api/reports/kpi?from=yesterday")[0] == 400
