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
const baseTitle = document.title;

const api = (method, path, body) => cicApi(method, path, body, showLogin);

const when = cicWhen;
const STATES = { available: "Available", busy: "Busy", wrap_up: "Wrap-up", away: "Away", offline: "Offline" };
const stateWord = (s) => t(STATES[s] || s);
// An interaction's state in words (not "wrap_up").
const WORK_STATES = { queued: "Waiting", offered: "Being offered", active: "Active", wrap_up: "Wrap-up", closed: "Closed" };
const workState = (s) => t(WORK_STATES[s] || s);
const channelWord = (c) => t(c);

function showLogin() {
  $("inbox").hidden = true;
  $("login").hidden = false;
  if (socket) socket.close();
  socket = null;
  cicPhone.stop();
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
  if (me.softphone) cicPhone.start(api);
}

// The agent's own state, from the answer asked for last: an earlier, slower answer (the reply
// to "available" that comes after the offer made them busy) must not overwrite a newer one.
let meAsked = 0;
async function loadMe(request) {
  const asked = ++meAsked;
  const answer = await request;
  if (asked === meAsked) { me = answer; renderMe(); }
}

function renderMe() {
  $("me-name").textContent = me.name;
  // The picker says what the agent chose (available, away...); the badge only what the work adds
  // to it (busy, wrap-up), so that the two never contradict each other.
  $("me-state").textContent = me.state !== me.presence ? stateWord(me.state) : "";
  $("me-state").hidden = me.state === me.presence;
  $("me-state").dataset.state = me.state;
  const select = $("state-select");
  const options = [["available", t("Available")],
                   ...me.away_reasons.map((r) => ["away:" + r, t("Away: {reason}", { reason: t(r) })]),
                   ["offline", t("Offline")]];
  select.replaceChildren(...options.map(([value, label]) => { const o = el("option", label); o.value = value; return o; }));
  select.value = me.presence === "away" ? "away:" + me.away_reason : me.presence;
}

function connect() {
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/live";
  socket = new WebSocket(url);
  socket.onopen = () => {
    $("live").textContent = t("live");
    $("live").dataset.on = "1";
  };
  socket.onclose = () => {
    $("live").textContent = t("reconnecting");
    $("live").dataset.on = "";
    if (!$("inbox").hidden) setTimeout(connect, 1000 + Math.random() * 1000);
  };
  socket.onmessage = (message) => {
    const event = JSON.parse(message.data);
    if (event.type === "hello") {
      // The engine listens for us from now on: whatever happened before (or while the socket
      // was away) was not pushed, so read it now.
      refreshWork();
      loadMe(api("GET", "/api/me"));
      if (current !== null) openInteraction(current);
      return;
    }
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
      loadMe(api("GET", "/api/me"));
    }
    refreshWork();
    if (!$("board").hidden && !boardPending) boardPending = setTimeout(refreshBoard, 300);
    if (current !== null && event.interaction_id === current) {
      if (event.event === "interaction.message_received") $("typing").hidden = true;
      openInteraction(current);
    }
  };
}

let offersKnown = null; // ids of the offers on screen: a new one is announced once
let workItems = []; // what /api/work said last: the lists are drawn from it with the filters
let offerItems = [];

let workAsked = 0;
async function refreshWork() {
  // Events come in bursts and answers out of order: only the last one asked for is drawn (an
  // older answer would take a new offer off the screen).
  const asked = ++workAsked;
  const work = await api("GET", "/api/work");
  if (asked !== workAsked) return;
  workItems = work.mine;
  offerItems = work.offers;
  const item = (w, offer) => {
    const li = el("li", null, "item");
    li.dataset.id = w.id;
    li.dataset.state = w.state;
    li.tabIndex = 0;  // reachable by Tab; Enter opens it
    li.appendChild(el("span", channelWord(w.channel), "channel"));
    li.appendChild(el("span", w.customer_name || t("Customer"), "who"));
    if (w.tier && w.tier !== "standard") li.appendChild(el("span", t(w.tier), "tier"));
    const unread = offer ? 0 : unreadOf(w);
    if (unread) {
      const badge = el("span", String(unread), "unread");
      badge.setAttribute("aria-label", t("{n} new", { n: unread }));
      li.appendChild(badge);
    }
    li.appendChild(el("span", w.last_text || w.subject || "", "preview"));  // a call we make has no message yet
    if (offer) {
      const countdown = el("span", "", "countdown");
      countdown.dataset.expires = w.offer_expires_at || "";
      li.appendChild(countdown);
      const accept = el("button", t("Accept"), "accept");
      accept.onclick = (e) => { e.stopPropagation(); acceptOffer(w.id); };
      const reject = el("button", t("Reject"), "reject");
      reject.onclick = async (e) => {
        e.stopPropagation();
        try { await api("POST", `/api/interactions/${w.id}/reject`, {}); } catch (err) { $("detail-error").textContent = err.message; }
        refreshWork();
      };
      li.append(accept, reject);
    } else {
      li.appendChild(el("span", workState(w.state), "state"));
    }
    li.onclick = () => openInteraction(w.id);
    li.onkeydown = (e) => { if (e.key === "Enter" && e.target === li) openInteraction(w.id); };
    return li;
  };
  $("offers").replaceChildren(...work.offers.map((w) => item(w, true)));
  const shown = filtered(work.mine);
  $("mine").replaceChildren(...shown.map((w) => item(w, false)));
  $("mine-empty").hidden = shown.length > 0;
  markCurrent();
  fillFilters(work.mine);
  announceOffers(work.offers);
  tickOffers();
  clearInterval(offersTimer);
  offersTimer = setInterval(tickOffers, 500);
}

async function acceptOffer(id) {
  const offer = offerItems.find((w) => w.id === id);
  if (offer && offer.channel === "voice" && cicPhone.answer()) {
    // A call is taken by answering it: the engine sees the answer and makes it the agent's.
    openInteraction(id);
    return;
  }
  try {
    await api("POST", `/api/interactions/${id}/accept`, {});
  } catch (err) {
    $("detail-error").textContent = err.message;
    refreshWork();
    return;
  }
  if (!$("board").hidden) $("board-button").click();  // from the board: to the conversation
  await refreshWork();
  openInteraction(id);
}

// Unread: customer messages that came after the agent last had the conversation open (kept
// in this browser, per agent).
function seenKey(id) { return `cic-seen:${me.agent_id}:${id}`; }
function unreadOf(w) {
  if (w.id === current) return 0;
  return Math.max(0, (w.inbound_count || 0) - Number(localStorage.getItem(seenKey(w.id)) || 0));
}
function markSeen(id, count) { localStorage.setItem(seenKey(id), String(count)); }

function filtered(items) {
  const queue = $("filter-queue").value, channel = $("filter-channel").value, state = $("filter-state").value;
  const shown = items.filter((w) => (!queue || w.queue === queue) && (!channel || w.channel === channel) &&
                                    (!state || w.state === state));
  if ($("filter-order").value === "waiting") {
    // Waiting longest: customers whose last word has no answer yet, the longest waiting first.
    const waits = (w) => w.last_direction === "inbound";
    shown.sort((a, b) => waits(b) - waits(a) ||
      new Date(a.last_message_at || a.created_at) - new Date(b.last_message_at || b.created_at));
  } else {
    shown.sort((a, b) => b.id - a.id);
  }
  return shown;
}

function fillFilters(items) {
  for (const [id, values, word] of [["filter-queue", items.map((w) => w.queue || "-"), (q) => q],
                                     ["filter-channel", items.map((w) => w.channel), channelWord],
                                     ["filter-state", ["active", "wrap_up", ...items.map((w) => w.state)], workState]]) {
    const select = $(id);
    const picked = select.value;
    const all = [...new Set([...values, ...(picked ? [picked] : [])])].sort();
    select.replaceChildren(option("", t("All")), ...all.map((v) => option(v, word(v))));
    select.value = picked;
  }
}

function markCurrent() {
  for (const li of document.querySelectorAll("#mine .item, #offers .item")) {
    if (Number(li.dataset.id) === current) li.setAttribute("aria-current", "true");
    else li.removeAttribute("aria-current");
  }
}

// A new offer is announced on whatever page the agent is: a banner (with Accept), the tab's
// title, a short tone, and (if the agent asked for it) a desktop notification.
function announceOffers(offers) {
  const ids = offers.map((w) => w.id);
  const fresh = offersKnown === null ? [] : offers.filter((w) => !offersKnown.includes(w.id));
  offersKnown = ids;
  document.title = offers.length ? `(${offers.length}) ${t("New offer")} · ${baseTitle}` : baseTitle;
  const first = offers[0];
  $("offer-banner").hidden = !first;
  if (first) {
    $("offer-banner-text").textContent = `${t("New offer")}: ` +
      t("{channel} from {who}", { channel: channelWord(first.channel), who: first.customer_name || t("Customer") });
    $("offer-banner-accept").onclick = () => acceptOffer(first.id);
  }
  if (!fresh.length) return;
  beep();
  if ($("notify-toggle").checked && "Notification" in window && Notification.permission === "granted") {
    for (const w of fresh) {
      const note = new Notification(t("New offer"), {
        body: t("{channel} from {who}", { channel: channelWord(w.channel), who: w.customer_name || t("Customer") }),
        tag: `cic-offer-${w.id}` });
      note.onclick = () => { window.focus(); note.close(); };
    }
  }
}

let audio = null;
function beep() {
  try {
    audio = audio || new AudioContext();
    const tone = audio.createOscillator(), gain = audio.createGain();
    tone.frequency.value = 880;
    gain.gain.setValueAtTime(0.15, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.4);
    tone.connect(gain).connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.4);
    document.body.dataset.beeps = String(Number(document.body.dataset.beeps || 0) + 1);
  } catch (e) { /* no sound on this device: the banner and title still say it */ }
}

function tickOffers() {
  for (const node of document.querySelectorAll(".countdown")) {
    if (!node.dataset.expires) continue;
    const left = Math.max(0, Math.round((new Date(node.dataset.expires) - Date.now()) / 1000));
    node.textContent = t("{n} s", { n: left });
  }
}

// The company's CRM in the screen pop: asked when the interaction was offered; it never holds
// up the offer or the conversation, and a CRM that does not answer in time says so.
async function showCrm(id) {
  const box = $("crm");
  box.replaceChildren(el("p", t("Looking up the CRM…"), "meta"));
  box.hidden = false;
  let found;
  try {
    found = await api("GET", `/api/interactions/${id}/crm`);
  } catch (e) {
    found = { lookups: [], error: e.message };
  }
  if (current !== id) return;  // the agent opened another meanwhile
  if (!found.lookups.length && !found.pending && !found.error) { box.hidden = true; return; }
  if (found.pending || found.error) {
    box.replaceChildren(el("h3", "CRM"), el("p", t("CRM unavailable"), "crm-unavailable"));
    return;
  }
  box.replaceChildren(...found.lookups.map((k) => {
    const part = el("div", null, "crm-lookup");
    part.dataset.state = k.state;
    part.appendChild(el("h3", k.name));
    if (k.state !== "ok") {
      part.appendChild(el("p", t("CRM unavailable"), "crm-unavailable"));
      part.appendChild(el("p", k.reason || "", "meta"));
    }
    if (k.fields.length) {
      const list = el("dl", null, "crm-fields");
      for (const f of k.fields) list.append(el("dt", f.label), el("dd", f.value === null ? "-" : f.value));
      part.appendChild(list);
    }
    if (k.link && k.frame) {
      const frame = document.createElement("iframe");
      frame.className = "crm-frame";
      frame.title = k.name;
      frame.setAttribute("sandbox", "allow-scripts allow-forms allow-same-origin allow-popups");
      frame.setAttribute("referrerpolicy", "no-referrer");
      frame.src = k.link;
      part.appendChild(frame);
    } else if (k.link) {
      const link = el("a", t("Open in {name}", { name: k.name }), "crm-link");
      link.href = k.link;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      part.appendChild(link);
    }
    return part;
  }));
}

let opening = 0;
async function openInteraction(id) {
  if (id === null || id === undefined) return;
  const asked = ++opening;
  let view;
  try {
    view = await api("GET", `/api/interactions/${id}`);
  } catch (e) {
    if (asked === opening) $("detail-error").textContent = e.message;
    return;
  }
  // A refresh of the conversation on screen may answer after the agent opened another: the last
  // one asked for is the one shown.
  if (asked !== opening) return;
  const switching = current !== id;
  current = id;
  if (switching) $("reply-channel").replaceChildren();
  $("detail").hidden = false;
  // An action's error stays until the agent acts again or opens another: a refresh must not wipe it.
  if (switching) $("detail-error").textContent = "";
  const i = view.interaction;
  $("detail").dataset.state = i.state;
  $("detail-title").textContent = i.subject ||
    t("{channel} with {who}", { channel: channelWord(i.channel), who: i.customer_name || t("Customer") });
  $("detail-meta").textContent = `#${i.id} · ${channelWord(i.channel)} · ${workState(i.state)} · ` +
    t("queue {name}", { name: i.queue || "-" });
  showActions(i);
  markSeen(i.id, view.messages.filter((m) => m.direction === "inbound").length);
  markCurrent();
  const unreadBadge = document.querySelector(`#mine .item[data-id="${i.id}"] .unread`);
  if (unreadBadge) unreadBadge.remove();
  // Notes sit in the conversation where they were written, not only in the timeline.
  const notes = view.events.filter((e) => e.kind === "note").map((e) => ({ note: e, at: e.at }));
  const lines = [...view.messages.map((m) => ({ message: m, at: m.at })), ...notes]
    .sort((a, b) => new Date(a.at) - new Date(b.at));
  $("messages").replaceChildren(...lines.map((line) => {
    if (line.note) {
      const li = el("li", null, "message note");
      li.appendChild(el("div", `${t("Internal note")} · ${line.note.agent_name || line.note.actor || ""} · ${when(line.at)}`, "meta"));
      li.appendChild(el("div", line.note.data.text, "text"));
      return li;
    }
    const m = line.message;
    const li = el("li", null, "message " + m.direction);
    li.dataset.id = m.id;
    const who = m.direction === "outbound" ? (m.agent_name || t("Agent")) : (m.sender_name || m.sender || t("Customer"));
    li.appendChild(el("div", `${who} · ${when(m.at)}`, "meta"));
    // An address a chatting customer only says is theirs: never shown as who they are.
    if (m.claimed_email) li.appendChild(el("div", t("says they are {email} (not verified)", { email: m.claimed_email }), "claim"));
    if (m.subject && m.channel === "email") li.appendChild(el("div", m.subject, "subject"));
    li.appendChild(el("div", m.text, "text"));
    for (const f of m.forwarded || []) {
      // A mail the customer attached (forwarded): its own sender, date and subject, quoted and
      // collapsed, never read as the customer's words.
      const box = el("details", null, "forwarded");
      box.appendChild(el("summary", t("Forwarded message: {subject}", { subject: f.subject || t("(no subject)") })));
      box.appendChild(el("div", t("From: {from} · Date: {date}", { from: f.from_ || "-", date: f.date ? when(f.date) : "-" }), "meta"));
      box.appendChild(el("blockquote", f.text, "text"));
      if (f.attachments.length) box.appendChild(el("div", t("Attachments in it: {names}", { names: f.attachments.join(", ") }), "meta"));
      li.appendChild(box);
    }
    if (m.html) {
      // The mail's own layout, in a sandbox with no scripts, no forms, no same-origin access:
      // whatever the sanitiser might miss still cannot run or reach the inbox.
      const show = el("button", t("Show formatted"), "formatted");
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
      if (/^image\/(png|jpeg|gif|webp)$/.test(a.content_type)) li.appendChild(preview(a));
      if (a.derived && a.content_type === "application/pdf") {
        // A fax's pages, rendered by the engine (images only): shown in place on request.
        const view = el("button", t("View fax"), "view-fax");
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
  const channels = [i.channel, ...me.reply_channels.filter((c) => c !== i.channel &&
    (view.customer ? view.customer.identities.some((x) => x.kind === (c === "email" ? "email" : "phone")) : false) &&
    !(view.customer && view.customer.opted_out_channels.includes(c)))];
  const chosen = $("reply-channel").value;
  $("reply-channel").replaceChildren(...channels.map((c) => option(c, channelWord(c))));
  if (channels.includes(chosen) && id === current) $("reply-channel").value = chosen;
  api("GET", `/api/interactions/${id}/canned`).then((list) => {
    $("canned").replaceChildren(option("", t("Canned response…")), ...list.map((c) => option(c.text, c.name)));
  }).catch(() => {});
  $("events").replaceChildren(...view.events.map((e) => {
    const who = e.agent_name || e.actor || "";
    const detail = e.data.text || e.data.reason || e.data.recording || e.data.mode || e.data.to_queue || e.data.disposition || "";
    const li = el("li", `${when(e.at)} · ${t(e.kind.replace(/_/g, " "))}${who ? " · " + who : ""}${detail ? " · " + detail : ""}`);
    li.dataset.kind = e.kind;
    return li;
  }));
  const c = view.customer;
  $("customer-name").textContent = c ? (c.display_name || t("(no name)")) : "";
  $("customer-tier").textContent = c ? t(c.tier) : "";
  $("customer-tier").dataset.tier = c ? c.tier : "";
  $("customer-identities").replaceChildren(...(c ? c.identities : []).map((x) => el("li", `${x.kind}: ${x.value}`)));
  $("customer-notes").textContent = c && c.notes ? c.notes : "";
  if (switching) showCrm(id);
  $("cases").replaceChildren(...(view.cases || []).map((k) => {
    const li = el("li", `#${k.id} · ${k.category} · ${t(k.status.replace(/_/g, " "))} · ${k.department}`, "case");
    li.dataset.status = k.status;
    li.dataset.sla = k.sla;
    li.appendChild(el("div", `${k.sla === "ok" ? t("due") : k.sla} · ${when(k.due_at)}${k.reopened ? " · " + t("reopened") : ""}`,
                      "meta"));
    return li;
  }));
  $("history").replaceChildren(...view.history.map((h) => {
    const li = el("li", `${when(h.last_message_at)} · ${channelWord(h.channel)} · ${h.subject || h.last_text || ""} · ${workState(h.state)}`, "item");
    li.dataset.id = h.id;
    li.dataset.channel = h.channel;
    for (const r of h.recordings) li.appendChild(el("div", t("recording: {name}", { name: r }), "meta recording"));
    if (h.id !== id) li.onclick = () => openInteraction(h.id);
    return li;
  }));
  const box = $("messages");
  box.scrollTop = box.scrollHeight;
}

const seconds = cicSeconds;

let wrapTimer = null;
// What the agent may do is what the state allows: the conversation's own buttons follow it.
function showActions(i) {
  const mine = i.assigned_agent_id === me.agent_id;
  const active = mine && i.state === "active", wrapping = mine && i.state === "wrap_up";
  for (const node of document.querySelectorAll("#detail .when-active")) node.hidden = !active;
  for (const node of document.querySelectorAll("#detail .when-wrap-up")) node.hidden = !wrapping;
  $("reply-form").querySelector("button[type=submit]").hidden = !active;
  for (const id of ["reply-channel", "reply-files", "canned"]) $(id).closest("label, select").hidden = !active;
  $("reply-text").placeholder = active ? t("Reply to the customer") : t("Internal note");
  $("read-only").hidden = active || wrapping;
  $("read-only").textContent = i.state === "closed" ? t("This conversation is over: read only.") : t("Not yours: read only.");
  clearInterval(wrapTimer);
  const tick = () => {
    const left = i.wrap_up_until ? Math.max(0, Math.round((new Date(i.wrap_up_until) - Date.now()) / 1000)) : null;
    $("wrap-countdown").textContent = left === null ? "" : t("Closes by itself in {s} s", { s: left });
  };
  if (wrapping) { tick(); wrapTimer = setInterval(tick, 1000); }
}

function option(value, label) {
  const o = el("option", label);
  o.value = value;
  return o;
}

// A picture sent in the conversation, shown in place: fetched as the download it is and drawn
// from a blob of its raster type (never SVG, never rendered as a page of our origin).
const previews = new Map();
function preview(a) {
  const img = el("img", null, "preview");
  img.alt = a.filename;
  if (!previews.has(a.id)) {
    previews.set(a.id, fetch(`/api/attachments/${a.id}`, { credentials: "same-origin" })
      .then((r) => { if (!r.ok) throw new Error(r.statusText); return r.blob(); })
      .then((blob) => URL.createObjectURL(new Blob([blob], { type: a.content_type }))));
  }
  previews.get(a.id).then((url) => { img.src = url; }).catch(() => img.remove());
  return img;
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
    r.service_level_pct === null ? "-" : t("{pct}% (target {target}%)", { pct: r.service_level_pct, target: r.target_pct }), seconds(r.asa_s),
    seconds(r.aht_s), `${r.abandoned} (${pct(r.abandon_rate_pct)})`, pct(r.fcr_pct), String(r.transfers),
    pct(r.occupancy_pct), r.staffed_agents === null ? "-" : String(r.staffed_agents),
    r.erlang_agents === null ? "-" : String(r.erlang_agents)])));
  drawKpis(report.rows, $("kpi-interval").value);
}

const STEP_S = { "15min": 900, hour: 3600, day: 86400 };
let kpiPlot = null;

// The KPI plot (uPlot, vendored): contacts offered per interval as bars on the left axis, the
// service level reached as a line on the right (0-100 %), every interval of the last 24 hours
// on the time axis, the empty ones too; a legend names both.
function drawKpis(rows, interval) {
  const step = STEP_S[interval] || 3600;
  const now = Date.now() / 1000;
  const first = Math.floor((now - 86400) / step) * step;
  const slots = [];
  for (let at = first; at <= now; at += step) slots.push(at);
  const offered = slots.map(() => 0);
  const levels = slots.map(() => []);
  for (const r of rows) {
    const n = Math.round((new Date(r.interval) / 1000 - first) / step);
    if (n < 0 || n >= slots.length) continue;
    offered[n] += r.offered;
    if (r.service_level_pct !== null) levels[n].push(r.service_level_pct);
  }
  const level = levels.map((l) => (l.length ? l.reduce((a, b) => a + b, 0) / l.length : null));
  const box = $("kpi-chart");
  // What is plotted, for whoever cannot see the canvas (and for the tests).
  box.dataset.offered = offered.join(",");
  box.dataset.levels = level.map((v) => (v === null ? "" : Math.round(v))).join(",");
  box.setAttribute("aria-label", `${t("Contacts offered and service level per interval")}: ` +
    slots.map((s, n) => `${cicWhen(new Date(s * 1000).toISOString())} ${offered[n]}` +
      (level[n] === null ? "" : ` (${Math.round(level[n])}%)`)).filter((_, n) => offered[n]).join("; "));
  if (kpiPlot) kpiPlot.destroy();
  const hours = (v) => new Date(v * 1000).toLocaleString(cicLang(),
    step >= 86400 ? { month: "numeric", day: "numeric" } : { hour: "2-digit", minute: "2-digit" });
  const width = Math.min(720, Math.max(280, box.clientWidth || 720));
  kpiPlot = new uPlot({
    width, height: 220,
    scales: { x: { time: true }, n: { range: (u, lo, hi) => [0, Math.max(1, hi)] }, pct: { range: [0, 100] } },
    axes: [
      { values: (u, splits) => splits.map(hours) },
      { scale: "n", label: t("Contacts offered"), values: (u, splits) => splits.map((v) => (Number.isInteger(v) ? v : "")) },
      { scale: "pct", side: 1, label: t("Service level (%)"), grid: { show: false } },
    ],
    series: [
      { label: t("Interval"), value: (u, v) => (v === null ? "-" : cicWhen(new Date(v * 1000).toISOString())) },
      { label: t("Contacts offered"), scale: "n", fill: "#8fb3e8", stroke: "#4a78b8",
        paths: uPlot.paths.bars({ size: [0.7, 40] }), points: { show: false } },
      { label: t("Service level (%)"), scale: "pct", stroke: "#2e7d32", width: 2, spanGaps: false,
        points: { show: true, size: 6 }, value: (u, v) => (v === null ? "-" : `${Math.round(v)}%`) },
    ],
  }, [slots, offered, level], box);
}

async function refreshOps(row) {
  let ops;
  try {
    ops = await api("GET", "/api/ops");
  } catch (e) {
    return;
  }
  $("ops-node").textContent = `(${t("node {node}: {status}", { node: ops.node, status: ops.status })})`;
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
    last.problems.join("; ")} (${ops.reloads} applied)` : t("not reloaded since it started");
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

// A supervisor's action on the board: its error stays on screen until the next action (the
// board's own refreshes do not wipe it).
async function boardAct(work, refresh = true) {
  $("board-error").textContent = "";
  try { await work(); } catch (e) { $("board-error").textContent = e.message; }
  if (refresh) refreshBoard();
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
  $("board-since").textContent = t("since {when}", { when: when(board.since) });
  const row = (cells) => { const tr = el("tr"); for (const c of cells) tr.appendChild(c instanceof Node ? wrap(c) : el("td", c)); return tr; };
  const wrap = (node) => { const td = el("td"); td.appendChild(node); return td; };
  $("queue-board").tBodies[0].replaceChildren(...board.queues.map((q) => {
    const sl = el("span", q.service_level_pct === null ? "-" :
      t("{pct}% (target {target}% in {s} s)", { pct: q.service_level_pct, target: q.target_pct, s: q.target_s }));
    if (q.service_level_pct !== null && q.service_level_pct < q.target_pct) sl.className = "sl-bad";
    const tr = row([q.queue, channelWord(q.channel), String(q.waiting), seconds(q.longest_wait_s), sl, seconds(q.avg_answer_s),
                    String(q.answered), String(q.abandoned),
                    Object.entries(q.agents).map(([k, v]) => `${stateWord(k)}: ${v}`).join(", ")]);
    tr.dataset.queue = q.queue;
    tr.dataset.channel = q.channel;
    return tr;
  }));
  refreshCaseBoard(row);
  refreshKpis(row);
  refreshOps(row);
  cicCampaignBoard(api, $);
  const admin = me.roles.includes("admin");
  $("integrations").hidden = !admin;
  if (admin) cicIntegrationsBoard(api, $, when);
  $("agent-board").tBodies[0].replaceChildren(...board.agents.map((a) => {
    const select = el("select");
    select.append(option("", "—"), option("available", t("Available")), option("away", t("Away (supervisor)")),
                  option("offline", t("Offline")));
    select.onchange = async () => {
      if (!select.value) return;
      const body = select.value === "away" ? { state: "away", reason: "supervisor" } : { state: select.value };
      await boardAct(() => api("POST", `/api/agents/${encodeURIComponent(a.login)}/state`, body));
    };
    const live = el("span");
    if (a.on_call) {
      for (const mode of ["listen", "whisper", "barge"]) {
        const b = el("button", t(mode[0].toUpperCase() + mode.slice(1)));
        b.dataset.mode = mode;
        b.onclick = async () => {
          await boardAct(() => api("POST", `/api/interactions/${a.on_call}/supervise`, { mode }));
        };
        live.appendChild(b);
      }
    }
    const tr = row([a.name, stateWord(a.state) + (a.away_reason ? ` (${t(a.away_reason)})` : ""), when(a.state_since),
                    Object.entries(a.holding).map(([k, v]) => `${channelWord(k)} ${v}`).join(", ") || "-", a.queues.join(", "), select, live]);
    tr.dataset.login = a.login;
    return tr;
  }));
  $("waiting-board").tBodies[0].replaceChildren(...board.waiting.map((w) => {
    const move = el("select");
    move.append(option("", "—"), ...me.queues.filter((q) => q !== w.queue).map((q) => option(q, q)));
    move.onchange = async () => {
      await boardAct(() => api("POST", `/api/interactions/${w.id}/move`, { queue: move.value }));
    };
    const assign = el("select");
    assign.append(option("", "—"), ...board.agents.map((a) => option(a.login, a.name)));
    assign.onchange = async () => {
      await boardAct(() => api("POST", `/api/interactions/${w.id}/assign`, { agent: assign.value }));
    };
    const waited = w.queued_at ? (new Date(board.now) - new Date(w.queued_at)) / 1000 : null;
    const tr = row([String(w.id), channelWord(w.channel), w.queue, workState(w.state), `${w.customer_name || "-"}${w.tier !== "standard" ? " (" + w.tier + ")" : ""}`,
                    seconds(waited), move, assign]);
    tr.dataset.id = w.id;
    return tr;
  }));
  $("rejected-board").tBodies[0].replaceChildren(...board.rejected.map((r) => {
    // What a channel could not take in: after a fix, taken in again from its kept bytes.
    const again = el("button", r.reingest_requested ? t("Requested…") : t("Re-ingest"));
    again.type = "button";
    again.disabled = r.reingest_requested;
    again.onclick = async () => {
      again.disabled = true;
      await boardAct(() => api("POST", `/api/rejected/${r.id}/reingest`, {}), false);
      setTimeout(refreshBoard, 1500);
    };
    const dismiss = el("button", t("Dismiss"));
    dismiss.type = "button";
    dismiss.onclick = async () => {
      await boardAct(() => api("POST", `/api/rejected/${r.id}/dismiss`, {}));
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

// Keyboard: the shortcuts listed under "?" (not while typing in a field, but Escape leaves one).
function shortcuts(e) {
  if (e.ctrlKey || e.metaKey || e.altKey || $("inbox").hidden) return;
  const typing = e.target.closest && e.target.closest("input, textarea, select");
  if (typing) {
    if (e.key === "Escape") e.target.blur();
    return;
  }
  const items = [...document.querySelectorAll("#mine .item")];
  const at = items.findIndex((li) => Number(li.dataset.id) === current);
  const go = (n) => { if (items[n]) { openInteraction(Number(items[n].dataset.id)); items[n].focus(); } };
  const keys = {
    "?": () => $("shortcuts").showModal(),
    "/": () => $("search-text").focus(),
    a: () => { const first = document.querySelector("#offers .item"); if (first) acceptOffer(Number(first.dataset.id)); },
    r: () => { if (!$("detail").hidden) $("reply-text").focus(); },
    j: () => go(at < 0 ? 0 : Math.min(items.length - 1, at + 1)),
    k: () => go(at < 0 ? 0 : Math.max(0, at - 1)),
    e: () => { if (!$("end-button").closest(".when-active").hidden) act("end"); },
  };
  if (keys[e.key]) { e.preventDefault(); keys[e.key](); }
}

document.addEventListener("DOMContentLoaded", () => {
  cicTranslatePage();
  for (const select of document.querySelectorAll(".lang-select")) cicLanguagePicker(select);
  document.addEventListener("keydown", shortcuts);
  $("shortcuts-button").onclick = () => $("shortcuts").showModal();
  for (const id of ["filter-queue", "filter-channel", "filter-state", "filter-order"]) $(id).onchange = () => refreshWork();
  $("notify-toggle").checked = localStorage.getItem("cic-notify") === "1" &&
    "Notification" in window && Notification.permission === "granted";
  $("notify-toggle").onchange = async (e) => {
    // Desktop notifications only when the agent asks for them (the browser asks them too).
    let on = e.target.checked;
    if (on && "Notification" in window && Notification.permission !== "granted") {
      on = (await Notification.requestPermission()) === "granted";
    }
    e.target.checked = on && "Notification" in window;
    localStorage.setItem("cic-notify", e.target.checked ? "1" : "0");
  };
  $("reply-text").onkeydown = (e) => {
    // Enter sends a chat or SMS reply (Shift+Enter: a new line); Ctrl+Enter sends any reply.
    // Not while an input method is composing (Pinyin's Enter picks the Latin letters).
    if (e.key !== "Enter" || e.isComposing || e.keyCode === 229 || e.shiftKey) return;
    const quick = ["chat", "sms"].includes($("reply-channel").value);
    if (e.ctrlKey || e.metaKey || quick) {
      e.preventDefault();
      if (!$("reply-form").querySelector("button[type=submit]").hidden) $("reply-form").requestSubmit();
    }
  };
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
    $("board-button").textContent = show ? t("Inbox") : t("Board");
    clearInterval(boardTimer);
    if (show) { refreshBoard(); boardTimer = setInterval(refreshBoard, 5000); }
  };
  $("logout").onclick = async () => {
    await cicPhone.stop();  // unregistered while the credential still works
    await api("POST", "/api/logout", {});
    showLogin();
  };
  cicCampaignForms(api, $);
  cicIntegrationsForms(api, $, when);
  $("state-select").onchange = async (e) => {
    const value = e.target.value;
    const body = value.startsWith("away:") ? { state: "away", reason: value.slice(5) } : { state: value };
    $("state-error").textContent = "";
    try { await loadMe(api("POST", "/api/me/state", body)); } catch (err) { $("state-error").textContent = err.message; renderMe(); }
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
    // The box is free at once for the next message; a reply that fails comes back into it.
    $("reply-text").value = "";
    const files = await Promise.all(picked.map(readFile));
    if (await act("reply", { text, channel, files })) {
      $("reply-files").value = "";
    } else if (!$("reply-text").value) {
      $("reply-text").value = text;
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
    if (!text.trim()) return;
    $("reply-text").value = "";
    if (!await act("note", { text }) && !$("reply-text").value) $("reply-text").value = text;
  };
  $("transfer-button").onclick = () =>
    act("transfer", { queue: $("transfer-queue").value, agent: $("transfer-agent").value.trim() || undefined });
  $("end-button").onclick = () => act("end");
  $("wrap-button").onclick = () => act("wrap-up", { disposition: $("disposition").value || null });
  start();
});
