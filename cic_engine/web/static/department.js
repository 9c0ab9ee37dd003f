// A department's cases: its queue, a case's conversation and history, and the actions on it.
// Everything from customers and colleagues is put on the page as text, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
let current = null;

const api = (method, path, body) => cicApi(method, path, body, showLogin);

const when = cicWhen;
const words = (s) => t(s.replace(/_/g, " "));

function showLogin() {
  $("cases-page").hidden = true;
  $("login").hidden = false;
}

async function start() {
  let me;
  try {
    me = await api("GET", "/api/me");
  } catch (e) {
    showLogin();
    return;
  }
  $("login").hidden = true;
  $("cases-page").hidden = false;
  $("me-name").textContent = me.name;
  await refresh();
}

async function refresh() {
  const list = await api("GET", `/api/cases${$("show-closed").checked ? "?closed=1" : ""}`);
  $("case-list").replaceChildren(...list.map((k) => {
    const li = el("li", `#${k.id} · ${k.category} · ${words(k.status)}`, "item");
    li.dataset.id = k.id;
    li.dataset.sla = k.sla;
    li.appendChild(el("div", `${k.customer_name || t("customer {id}", { id: k.customer_id })} · ${k.sla} · ${t("due")} ${when(k.due_at)}`,
                      "meta"));
    li.onclick = () => openCase(k.id);
    return li;
  }));
  if (current !== null) await openCase(current);
}

async function openCase(id) {
  current = id;
  $("case-error").textContent = "";
  const k = await api("GET", `/api/cases/${id}`);
  $("case").hidden = false;
  $("case-title").textContent = t("Case #{id} · {category}", { id: k.id, category: k.category });
  $("case-meta").textContent = `${words(k.status)} · ${k.severity} · ${k.department}` +
    `${k.owner ? " · " + k.owner : ""} · SLA ${k.sla} · ${t("due")} ${when(k.due_at)}${k.reopened ? " · " + t("reopened") + " " + k.reopened : ""}`;
  $("case-description").textContent = k.description;
  $("case-messages").replaceChildren(...k.messages.map((m) => {
    const li = el("li", null, `message ${m.direction}`);
    li.appendChild(el("div", `${m.direction === "inbound" ? (m.sender || t("Customer")) : (m.agent_name || t("us"))} · ` +
                             `${t(m.channel)} · ${when(m.at)}`, "meta"));
    li.appendChild(el("div", m.text, "text"));
    return li;
  }));
  $("case-events").replaceChildren(...k.events.map((e) => {
    const detail = e.data.text || (e.data.to ? `${words(e.data.from || "")} → ${words(e.data.to)}` : "") ||
      e.data.channel || "";
    const li = el("li", `${when(e.at)} · ${words(e.kind.replace(/^case_/, ""))}` +
                        `${e.agent_name || e.actor ? " · " + (e.agent_name || e.actor) : ""}${detail ? " · " + detail : ""}`);
    li.dataset.kind = e.kind;
    return li;
  }));
  const select = $("case-status");
  select.replaceChildren(...k.moves.map((s) => { const o = el("option", words(s)); o.value = s; return o; }));
  $("status-form").hidden = !k.moves.length;
}

async function act(path, body, input) {
  $("case-error").textContent = "";
  try {
    await api("POST", `/api/cases/${current}/${path}`, body);
    if (input) $(input).value = "";
  } catch (e) {
    $("case-error").textContent = e.message;
  }
  await refresh();
}

document.addEventListener("DOMContentLoaded", () => {
  cicTranslatePage();
  for (const select of document.querySelectorAll(".lang-select")) cicLanguagePicker(select);
  cicLoginForm($("login-form"), $("login-error"), api, start);
  $("logout-button").onclick = async () => { await api("POST", "/api/logout", {}); showLogin(); };
  $("show-closed").onchange = refresh;
  $("status-form").onsubmit = (e) => {
    e.preventDefault();
    act("status", { status: $("case-status").value, note: $("status-note").value }, "status-note");
  };
  $("note-form").onsubmit = (e) => {
    e.preventDefault();
    if ($("note-text").value.trim()) act("note", { text: $("note-text").value }, "note-text");
  };
  $("ask-form").onsubmit = (e) => {
    e.preventDefault();
    if ($("ask-text").value.trim()) act("ask", { question: $("ask-text").value }, "ask-text");
  };
  $("resolve-form").onsubmit = (e) => {
    e.preventDefault();
    if ($("resolve-text").value.trim()) act("resolve", { resolution: $("resolve-text").value }, "resolve-text");
  };
  setInterval(() => { if (!$("cases-page").hidden) refresh().catch(() => {}); }, 10000);
  start();
});
