// The agent inbox. Everything from customers is put on the page as text (textContent), never
// as HTML; the page's Content-Security-Policy allows scripts from this file only.
"use strict";

const $ = (id) => document.getElementById(id);
let me = null;
let current = null; // id of the interaction on screen
let socket = null;
let offersTimer = null;
let typingTimer = null;
let lastTypingSent = 0;
let boardTimer = null;
let boardPending = null;

const api = (method, path, body) => cicApi(method, path, body, showLogin);

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

function showLogin() {
  $("inbox").hidden = true;
  $("login").hidden = false;
  if (socket) socket.close();
  socket = null;
}

async function start() {
  try {
    me = await api("GET", "/api/me");
  } catch (e) {
    showLogin();
    return;
  }
  if (!me.roles.some((r) => ["agent", "supervisor", "admin"].includes(r))) {
    window.location.assign("/department");  // a department user works cases, not the inbox
    return;
  }
  $("login").hidden = true;
  $("inbox").hidden = false;
  renderMe();
  loadCaseCategories();
  $("board-button").hidden = !me.roles.some((r) => r === "supervisor" || r === "admin");
  const queues = $("transfer-queue");
  queues.replaceChildren(...me.queues.map((q) => { const o = el("option", q); o.value = q; return o; }));
  $("dispositions").replaceChildren(...me.dispositions.map((d) => option(d, d)));
  connect();
}

function renderMe() {
  $("me-name").textContent = me.name;
  $("me-state").textContent = me.state + (me.away_reason ? ` (${me.away_reason})` : "");
  $("me-state").dataset.state = me.state;
  const select = $("state-select");
  const options = [["available", "Available"], ...me.away_reasons.map((r) => ["away:" + r, "Away: " + r]),
                   ["offline", "Offline"]];
  select.replaceChildren(...options.map(([value, label]) => { const o = el("option", label); o.value = value; return o; }));
  select.value = me.presence === "away" ? "away:" + me.away_reason : me.presence;
}

function connect() {
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/live";
  socket = new WebSocket(url);
  socket.onopen = () => {
    $("live").textContent = "live";
    $("live").dataset.on = "1";
    // Whatever happened while the socket was away was not pushed: read it now.
    refreshWork();
    if (current !== null) openInteraction(current);
  };
  socket.onclose = () => {
    $("live").textContent = "reconnecting";
    $("live").dataset.on = "";
    if (!$("inbox").hidden) setTimeout(connect, 1000 + Math.random() * 1000);
  };
  socket.onmessage = (message) => {
    const event = JSON.parse(message.data);
    if (event.type !== "event") return;
    if (event.event === "chat.typing") {
      if (event.interaction_id === current && event.data.who === "customer") {
        $("typing").hidden = false;
        clearTimeout(typingTimer);
        typingTimer = setTimeout(() => { $("typing").hidden = true; }, 4000);
      }
      return;
    }
    if (["interaction.case_sla_warning", "interaction.case_sla_breach", "interaction.case_escalated"]
        .includes(event.event)) {
      // Supervisors hear of every case at risk, wherever they are in the inbox.
      const what = event.event.replace("interaction.case_", "").replace("sla_", "SLA ");
      const alert = el("li", `Case #${event.data.case_id} (${event.data.department}): ${what}` +
                             `${event.data.to ? " → " + event.data.to : ""}`, "case-alert");
      alert.dataset.kind = event.event;
      $("case-alerts").prepend(alert);
      $("case-alerts").hidden = false;
      return;
    }
    if (event.event === "agent.state" && event.agent_id === me.agent_id) {
      api("GET", "/api/me").then((m) => { me = m; renderMe(); });
    }
    refreshWork();
    if (!$("board").hidden && !boardPending) boardPending = setTimeout(refreshBoard, 300);
    if (event.interaction_id === current) {
      if (event.event === "interaction.message_received") $("typing").hidden = true;
      openInteraction(current);
    }
  };
}

async function refreshWork() {
  const work = await api("GET", "/api/work");
  const item = (w, offer) => {
    const li = el("li", null, "item");
    li.dataset.id = w.id;
    li.appendChild(el("span", w.channel, "channel"));
    li.appendChild(el("span", w.customer_name || "Customer", "who"));
    if (w.tier && w.tier !== "standard") li.appendChild(el("span", w.tier, "tier"));
    li.appendChild(el("span", w.last_text || w.subject || "", "preview"));  // a call we make has no message yet
    if (offer) {
      const countdown = el("span", "", "countdown");
      countdown.dataset.expires = w.offer_expires_at || "";
      li.appendChild(countdown);
      const accept = el("button", "Accept", "accept");
      accept.onclick = async (e) => {
        e.stopPropagation();
        try { await api("POST", `/api/interactions/${w.id}/accept`, {}); } catch (err) { alert(err.message); }
        await refreshWork();
        openInteraction(w.id);
      };
      const reject = el("button", "Reject", "reject");
      reject.onclick = async (e) => {
        e.stopPropagation();
        try { await api("POST", `/api/interactions/${w.id}/reject`, {}); } catch (err) { alert(err.message); }
        refreshWork();
      };
      li.append(accept, reject);
    } else {
      li.appendChild(el("span", w.state, "state"));
    }
    li.onclick = () => openInteraction(w.id);
    return li;
  };
  $("offers").replaceChildren(...work.offers.map((w) => item(w, true)));
  $("mine").replaceChildren(...work.mine.map((w) => item(w, false)));
  tickOffers();
  clearInterval(offersTimer);
  offersTimer = setInterval(tickOffers, 500);
}

function tickOffers() {
  for (const node of document.querySelectorAll(".countdown")) {
    if (!node.dataset.expires) continue;
    const left = Math.max(0, Math.round((new Date(node.dataset.expires) - Date.now()) / 1000));
    node.textContent = `${left} s`;
  }
}

async function openInteraction(id) {
  let view;
  try {
    view = await api("GET", `/api/interactions/${id}`);
  } catch (e) {
    $("detail-error").textContent = e.message;
    return;
  }
  const switching = current !== id;
  current = id;
  if (switching) $("reply-channel").replaceChildren();
  $("detail").hidden = false;
  $("detail-error").textContent = "";
  const i = view.interaction;
  $("detail").dataset.state = i.state;
  $("detail-title").textContent = i.subject || `${i.channel} with ${i.customer_name || "customer"}`;
  $("detail-meta").textContent = `#${i.id} · ${i.channel} · ${i.state} · queue ${i.queue || "-"}`;
  $("messages").replaceChildren(...view.messages.map((m) => {
    const li = el("li", null, "message " + m.direction);
    li.dataset.id = m.id;
    const who = m.direction === "outbound" ? (m.agent_name || "Agent") : (m.sender_name || m.sender || "Customer");
    li.appendChild(el("div", `${who} · ${when(m.at)}`, "meta"));
    // An address a chatting customer only says is theirs: never shown as who they are.
    if (m.claimed_email) li.appendChild(el("div", `says they are ${m.claimed_email} (not verified)`, "claim"));
    if (m.subject && m.channel === "email") li.appendChild(el("div", m.subject, "subject"));
    li.appendChild(el("div", m.text, "text"));
    for (const f of m.forwarded || []) {
      // A mail the customer attached (forwarded): its own sender, date and subject, quoted and
      // collapsed, never read as the customer's words.
      const box = el("details", null, "forwarded");
      box.appendChild(el("summary", `Forwarded message: ${f.subject || "(no subject)"}`));
      box.appendChild(el("div", `From: ${f.from_ || "-"} · Date: ${f.date ? when(f.date) : "-"}`, "meta"));
      box.appendChild(el("blockquote", f.text, "text"));
      if (f.attachments.length) box.appendChild(el("div", `Attachments in it: ${f.attachments.join(", ")}`, "meta"));
      li.appendChild(box);
    }
    if (m.html) {
      // The mail's own layout, in a sandbox with no scripts, no forms, no same-origin access:
      // whatever the sanitiser might miss still cannot run or reach the inbox.
      const show = el("button", "Show formatted", "formatted");
      show.type = "button";
      show.onclick = () => {
        const frame = document.createElement("iframe");
        frame.setAttribute("sandbox", "");
        frame.setAttribute("referrerpolicy", "no-referrer");
        frame.className = "mail-html";
        frame.srcdoc = m.html;
        show.replaceWith(frame);
      };
      li.appendChild(show);
    }
    for (const a of m.attachments) {
      const link = el("a", `${a.filename} (${Math.ceil(a.size / 1024)} KB)`, "attachment");
      link.href = `/api/attachments/${a.id}`;
      li.appendChild(link);
      if (a.derived && a.content_type === "application/pdf") {
        // A fax's pages, rendered by the engine (images only): shown in place on request.
        const view = el("button", "View fax", "view-fax");
        view.type = "button";
        view.onclick = () => {
          const frame = document.createElement("iframe");
          frame.className = "fax-pdf";
          frame.title = a.filename;
          frame.src = `/api/attachments/${a.id}?view=inline`;
          view.replaceWith(frame);
        };
        li.appendChild(view);
      }
    }
    if (m.problems) li.appendChild(el("div", m.problems, "problems"));
    return li;
  }));
  $("call-controls").hidden = !(i.channel === "voice" && i.state === "active");
  if (i.campaign_id) cicCampaignRecord(api, id, i.state, $); else $("campaign-record").hidden = true;
  const channels = [i.channel, ...["email", "sms"].filter((c) => c !== i.channel &&
    (view.customer ? view.customer.identities.some((x) => x.kind === (c === "email" ? "email" : "phone")) : false) &&
    !(view.customer && view.customer.opted_out_channels.includes(c)))];
  const chosen = $("reply-channel").value;
  $("reply-channel").replaceChildren(...channels.map((c) => option(c, c)));
  if (channels.includes(chosen) && id === current) $("reply-channel").value = chosen;
  api("GET", `/api/interactions/${id}/canned`).then((list) => {
    $("canned").replaceChildren(option("", "Canned response…"), ...list.map((c) => option(c.text, c.name)));
  }).catch(() => {});
  $("events").replaceChildren(...view.events.map((e) => {
    const who = e.agent_name || e.actor || "";
    const detail = e.data.text || e.data.reason || e.data.recording || e.data.mode || e.data.to_queue || e.data.disposition || "";
    const li = el("li", `${when(e.at)} · ${e.kind.replace(/_/g, " ")}${who ? " · " + who : ""}${detail ? " · " + detail : ""}`);
    li.dataset.kind = e.kind;
    return li;
  }));
  const c = view.customer;
  $("customer-name").textContent = c ? (c.display_name || "(no name)") : "";
  $("customer-tier").textContent = c ? c.tier : "";
  $("customer-tier").dataset.tier = c ? c.tier : "";
  $("customer-identities").replaceChildren(...(c ? c.identities : []).map((x) => el("li", `${x.kind}: ${x.value}`)));
  $("customer-notes").textContent = c && c.notes ? c.notes : "";
  $("cases").replaceChildren(...(view.cases || []).map((k) => {
    const li = el("li", `#${k.id} · ${k.category} · ${k.status.replace(/_/g, " ")} · ${k.department}`, "case");
    li.dataset.status = k.status;
    li.dataset.sla = k.sla;
    li.appendChild(el("div", `${k.sla === "ok" ? "due" : k.sla} · ${when(k.due_at)}${k.reopened ? " · reopened" : ""}`,
                      "meta"));
    return li;
  }));
  $("history").replaceChildren(...view.history.map((h) => {
    const li = el("li", `${when(h.last_message_at)} · ${h.channel} · ${h.subject || h.last_text || ""} · ${h.state}`, "item");
    li.dataset.id = h.id;
    li.dataset.channel = h.channel;
    for (const r of h.recordings) li.appendChild(el("div", `recording: ${r}`, "meta recording"));
    if (h.id !== id) li.onclick = () => openInteraction(h.id);
    return li;
  }));
  const box = $("messages");
  box.scrollTop = box.scrollHeight;
}

function seconds(s) {
  if (s === null || s === undefined) return "-";
  s = Math.round(s);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

function option(value, label) {
  const o = el("option", label);
  o.value = value;
  return o;
}

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

async function refreshKpis(row) {
  const query = `interval=${$("kpi-interval").value}&group=${$("kpi-group").value}`;
  $("kpi-csv").href = `/api/reports/kpi?format=csv&${query}`;
  let report;
  try {
    report = await api("GET", `/api/reports/kpi?${query}`);
  } catch (e) {
    return;
  }
  const pct = (v) => (v === null ? "-" : `${v}%`);
  $("kpi-board").tBodies[0].replaceChildren(...report.rows.map((r) => row([
    when(r.interval), r.key, String(r.offered), String(r.answered),
    r.service_level_pct === null ? "-" : `${r.service_level_pct}% (target ${r.target_pct}%)`, seconds(r.asa_s),
    seconds(r.aht_s), `${r.abandoned} (${pct(r.abandon_rate_pct)})`, pct(r.fcr_pct), String(r.transfers),
    pct(r.occupancy_pct), r.staffed_agents === null ? "-" : String(r.staffed_agents),
    r.erlang_agents === null ? "-" : String(r.erlang_agents)])));
  // The plot: contacts offered per interval (bars) and the service level reached (dots, 0-100 %).
  const slots = [...new Set(report.rows.map((r) => r.interval))].sort();
  const chart = $("kpi-chart");
  const width = 720, height = 160, pad = 24;
  chart.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const offered = slots.map((s) => report.rows.filter((r) => r.interval === s).reduce((n, r) => n + r.offered, 0));
  const levels = slots.map((s) => {
    const rows = report.rows.filter((r) => r.interval === s && r.service_level_pct !== null);
    return rows.length ? rows.reduce((n, r) => n + r.service_level_pct, 0) / rows.length : null;
  });
  const most = Math.max(1, ...offered);
  const step = slots.length ? (width - 2 * pad) / slots.length : 0;
  const parts = [svg("line", { x1: pad, y1: height - pad, x2: width - pad, y2: height - pad, class: "axis" })];
  slots.forEach((s, n) => {
    const h = (height - 2 * pad) * offered[n] / most;
    const bar = svg("rect", { x: pad + n * step + 2, y: height - pad - h, width: Math.max(2, step - 4), height: h,
                              class: "bar" });
    bar.appendChild(svg("title", {}, `${when(s)}: ${offered[n]} offered`));
    parts.push(bar);
    if (levels[n] !== null) {
      const dot = svg("circle", { cx: pad + n * step + step / 2, cy: pad + (height - 2 * pad) * (1 - levels[n] / 100),
                                  r: 4, class: levels[n] >= 80 ? "sl-ok" : "sl-low" });
      dot.appendChild(svg("title", {}, `${when(s)}: service level ${Math.round(levels[n])}%`));
      parts.push(dot);
    }
  });
  chart.replaceChildren(...parts);
}

async function refreshOps(row) {
  let ops;
  try {
    ops = await api("GET", "/api/ops");
  } catch (e) {
    return;
  }
  $("ops-node").textContent = `(node ${ops.node}: ${ops.status})`;
  $("ops-board").tBodies[0].replaceChildren(...Object.entries(ops.adapters).map(([name, a]) => {
    const tr = row([name, a.kind || "-", a.ok ? a.state : `${a.state} (not ok)`, a.last_error || "",
                    Object.entries(a.detail || {}).map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`)
                      .join(", ")]);
    tr.dataset.adapter = name;
    tr.dataset.ok = a.ok ? "1" : "";
    return tr;
  }));
  const last = ops.last_reload;
  $("ops-reload").textContent = last ? `last reload ${when(last.at)}: ${last.ok ? last.changes : "refused: " +
    last.problems.join("; ")} (${ops.reloads} applied)` : "not reloaded since it started";
  $("ops-config").textContent = JSON.stringify(ops.config, null, 2);
}

async function refreshCaseBoard(row) {
  let report;
  try {
    report = await api("GET", "/api/reports/cases?days=30");
  } catch (e) {
    return;
  }
  $("case-board").tBodies[0].replaceChildren(...report.open_by_department.map((d) =>
    row([d.department, String(d.open), String(d.under_1d), String(d.d1_to_3), String(d.d3_to_7), String(d.over_7d),
         String(d.breached)])));
  $("resolution-board").tBodies[0].replaceChildren(...report.resolution_by_category.map((c) =>
    row([c.category, String(c.resolved), `${c.avg_hours_to_resolve} / ${c.median_hours_to_resolve}`,
         `${Math.round(Number(c.reopen_rate) * 100)}%`])));
  const csat = report.csat;
  const lines = [["agent", csat.by_agent, "agent"], ["queue", csat.by_queue, "queue"],
                 ["category", csat.by_category, "category"], ["channel", csat.by_channel, "channel"]];
  $("csat-board").tBodies[0].replaceChildren(...lines.flatMap(([by, items, key]) => items.map((x) =>
    row([by, x[key], String(x.answers), String(x.average), String(x.satisfied)]))));
}

async function refreshBoard() {
  boardPending = null;
  let board;
  try {
    board = await api("GET", "/api/board");
  } catch (e) {
    $("board-error").textContent = e.message;
    return;
  }
  $("board-error").textContent = "";
  $("board-since").textContent = `since ${when(board.since)}`;
  const row = (cells) => { const tr = el("tr"); for (const c of cells) tr.appendChild(c instanceof Node ? wrap(c) : el("td", c)); return tr; };
  const wrap = (node) => { const td = el("td"); td.appendChild(node); return td; };
  $("queue-board").tBodies[0].replaceChildren(...board.queues.map((q) => {
    const sl = el("span", q.service_level_pct === null ? "-" : `${q.service_level_pct}% (target ${q.target_pct}% in ${q.target_s} s)`);
    if (q.service_level_pct !== null && q.service_level_pct < q.target_pct) sl.className = "sl-bad";
    const tr = row([q.queue, q.channel, String(q.waiting), seconds(q.longest_wait_s), sl, seconds(q.avg_answer_s),
                    String(q.answered), String(q.abandoned),
                    Object.entries(q.agents).map(([k, v]) => `${k}: ${v}`).join(", ")]);
    tr.dataset.queue = q.queue;
    tr.dataset.channel = q.channel;
    return tr;
  }));
  refreshCaseBoard(row);
  refreshKpis(row);
  refreshOps(row);
  cicCampaignBoard(api, $);
  $("agent-board").tBodies[0].replaceChildren(...board.agents.map((a) => {
    const select = el("select");
    select.append(option("", "—"), option("available", "Available"), option("away", "Away (supervisor)"), option("offline", "Offline"));
    select.onchange = async () => {
      if (!select.value) return;
      const body = select.value === "away" ? { state: "away", reason: "supervisor" } : { state: select.value };
      try { await api("POST", `/api/agents/${encodeURIComponent(a.login)}/state`, body); } catch (e) { $("board-error").textContent = e.message; }
      refreshBoard();
    };
    const live = el("span");
    if (a.on_call) {
      for (const mode of ["listen", "whisper", "barge"]) {
        const b = el("button", mode[0].toUpperCase() + mode.slice(1));
        b.dataset.mode = mode;
        b.onclick = async () => {
          try { await api("POST", `/api/interactions/${a.on_call}/supervise`, { mode }); $("board-error").textContent = ""; }
          catch (e) { $("board-error").textContent = e.message; }
        };
        live.appendChild(b);
      }
    }
    const tr = row([a.name, a.state + (a.away_reason ? ` (${a.away_reason})` : ""), when(a.state_since),
                    Object.entries(a.holding).map(([k, v]) => `${k} ${v}`).join(", ") || "-", a.queues.join(", "), select, live]);
    tr.dataset.login = a.login;
    return tr;
  }));
  $("waiting-board").tBodies[0].replaceChildren(...board.waiting.map((w) => {
    const move = el("select");
    move.append(option("", "—"), ...me.queues.filter((q) => q !== w.queue).map((q) => option(q, q)));
    move.onchange = async () => {
      try { await api("POST", `/api/interactions/${w.id}/move`, { queue: move.value }); } catch (e) { $("board-error").textContent = e.message; }
      refreshBoard();
    };
    const assign = el("select");
    assign.append(option("", "—"), ...board.agents.map((a) => option(a.login, a.name)));
    assign.onchange = async () => {
      try { await api("POST", `/api/interactions/${w.id}/assign`, { agent: assign.value }); } catch (e) { $("board-error").textContent = e.message; }
      refreshBoard();
    };
    const waited = w.queued_at ? (new Date(board.now) - new Date(w.queued_at)) / 1000 : null;
    const tr = row([String(w.id), w.channel, w.queue, w.state, `${w.customer_name || "-"}${w.tier !== "standard" ? " (" + w.tier + ")" : ""}`,
                    seconds(waited), move, assign]);
    tr.dataset.id = w.id;
    return tr;
  }));
  $("rejected-board").tBodies[0].replaceChildren(...board.rejected.map((r) => {
    // What a channel could not take in: after a fix, taken in again from its kept bytes.
    const again = el("button", r.reingest_requested ? "Requested…" : "Re-ingest");
    again.type = "button";
    again.disabled = r.reingest_requested;
    again.onclick = async () => {
      again.disabled = true;
      try { await api("POST", `/api/rejected/${r.id}/reingest`, {}); } catch (e) { $("board-error").textContent = e.message; }
      setTimeout(refreshBoard, 1500);
    };
    const dismiss = el("button", "Dismiss");
    dismiss.type = "button";
    dismiss.onclick = async () => {
      try { await api("POST", `/api/rejected/${r.id}/dismiss`, {}); } catch (e) { $("board-error").textContent = e.message; }
      refreshBoard();
    };
    const actions = el("span");
    actions.append(again, " ", dismiss);
    const from = r.source.from || r.source.chat || r.source.uuid || r.adapter;
    const why = r.reason + (r.reingest_error ? ` — tried again: ${r.reingest_error}` : "") +
      (r.seen_again ? ` (arrived ${r.seen_again + 1} times)` : "");
    const tr = row([`R${r.id}`, when(r.created_at), `${r.channel} (${r.adapter})`, from, why, actions]);
    tr.dataset.id = r.id;
    return tr;
  }));
}

async function loadCaseCategories() {
  try {
    const found = await api("GET", "/api/case-categories");
    $("new-case").hidden = !found.categories.length;
    $("case-category").replaceChildren(...found.categories.map((c) => option(c.name, `${c.title} (${c.department})`)));
    $("case-severity").replaceChildren(...found.severities.map((s) => option(s, s)));
    $("case-severity").value = found.severities.includes("normal") ? "normal" : found.severities[0];
  } catch (e) {
    $("new-case").hidden = true;
  }
}

function readFile(file) {
  // The file as the reply API takes it: base64 in the JSON.
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve({ filename: file.name, content_type: file.type || "application/octet-stream",
                                    content: String(reader.result).split(",", 2)[1] || "" });
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

async function act(path, body) {
  if (current === null) return false;
  $("detail-error").textContent = "";
  const id = current;
  try {
    await api("POST", `/api/interactions/${id}/${path}`, body || {});
  } catch (e) {
    $("detail-error").textContent = e.message;
    return false;
  }
  refreshWork().then(() => openInteraction(id));
  return true;
}

document.addEventListener("DOMContentLoaded", () => {
  cicLoginForm($("login-form"), $("login-error"), api, start);
  $("kpi-interval").onchange = () => refreshBoard();
  $("kpi-group").onchange = () => refreshBoard();
  for (const button of document.querySelectorAll("#call-controls [data-call]")) {
    button.onclick = () => {
      const body = button.dataset.target ? { to: $("call-to").value, target: $("call-target").value } : {};
      act(`call/${button.dataset.call}`, body);
    };
  }
  $("dial-form").onsubmit = async (e) => {
    e.preventDefault();
    const number = $("dial-number").value;
    if (!number.trim()) return;
    $("dial-error").textContent = "";
    try {
      const made = await api("POST", "/api/calls", { number });
      $("dial-number").value = "";
      await refreshWork();
      openInteraction(made.interaction_id);
    } catch (err) {
      $("dial-error").textContent = err.message;  // beside the box, not a dialog that stops the page
    }
  };
  $("board-button").onclick = () => {
    const show = $("board").hidden;
    $("board").hidden = !show;
    document.querySelector("main").hidden = show;
    $("board-button").textContent = show ? "Inbox" : "Board";
    clearInterval(boardTimer);
    if (show) { refreshBoard(); boardTimer = setInterval(refreshBoard, 5000); }
  };
  $("logout").onclick = async () => { await api("POST", "/api/logout", {}); showLogin(); };
  cicCampaignForms(api, $);
  $("state-select").onchange = async (e) => {
    const value = e.target.value;
    const body = value.startsWith("away:") ? { state: "away", reason: value.slice(5) } : { state: value };
    try { me = await api("POST", "/api/me/state", body); } catch (err) { alert(err.message); }
    renderMe();
  };
  $("case-form").onsubmit = async (e) => {
    e.preventDefault();
    const description = $("case-description").value;
    if (!description.trim() || current === null) return;
    if (await act("cases", { category: $("case-category").value, severity: $("case-severity").value, description })) {
      $("case-description").value = "";
      $("new-case").open = false;
    }
  };
  $("reply-form").onsubmit = async (e) => {
    e.preventDefault();
    const text = $("reply-text").value;
    const picked = [...$("reply-files").files];
    if (!text.trim() && !picked.length) return;
    const channel = $("reply-channel").value || undefined;
    const files = await Promise.all(picked.map(readFile));
    if (await act("reply", { text, channel, files })) {
      $("reply-text").value = "";
      $("reply-files").value = "";
    }
  };
  $("canned").onchange = (e) => {
    if (!e.target.value) return;
    const box = $("reply-text");
    box.value = box.value ? box.value + "\n" + e.target.value : e.target.value;
    e.target.value = "";
    box.focus();
  };
  let searches = 0;
  $("search-form").onsubmit = async (e) => {
    e.preventDefault();
    const q = $("search-text").value.trim();
    if (q.length < 2) { $("search-results").hidden = true; return; }
    const asked = ++searches;
    const found = await api("GET", `/api/search?q=${encodeURIComponent(q)}`);
    if (asked !== searches) return;  // a later search was typed meanwhile: its answer is the one to show
    $("search-results").dataset.query = q;
    $("found-customers").replaceChildren(...found.customers.map((c) =>
      el("li", `${c.display_name || "(no name)"} · ${c.tier} · ${c.identities.join(", ")}`)));
    $("found-interactions").replaceChildren(...found.interactions.map((w) => {
      const li = el("li", `#${w.id} · ${w.channel} · ${w.customer_name || ""} · ${w.subject || w.last_text} · ${w.state}`, "item");
      li.onclick = () => openInteraction(w.id);
      return li;
    }));
    $("search-results").hidden = false;
  };
  $("reply-text").oninput = () => {
    if (socket && socket.readyState === 1 && current !== null && Date.now() - lastTypingSent > 2000) {
      lastTypingSent = Date.now();
      socket.send(JSON.stringify({ type: "typing", interaction_id: current }));
    }
  };
  $("note-button").onclick = async () => {
    const text = $("reply-text").value;
    if (text.trim() && await act("note", { text })) $("reply-text").value = "";
  };
  $("transfer-button").onclick = () =>
    act("transfer", { queue: $("transfer-queue").value, agent: $("transfer-agent").value.trim() || undefined });
  $("end-button").onclick = () => act("end");
  $("wrap-button").onclick = () => act("wrap-up", { disposition: $("disposition").value || null });
  start();
});
