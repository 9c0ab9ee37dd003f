// Campaigns in the inbox: the supervisor board's campaign section (figures, start and pause,
// list imports with their row report, the do-not-contact list) and, for an agent, the campaign
// record of a call or preview with its Dial button.
"use strict";

// A list upload: the CSV as it is, as text/csv (the API refuses anything a form could forge).
async function cicUploadCsv(path, file) {
  const response = await fetch(path, { method: "POST", credentials: "same-origin",
                                       headers: { "Content-Type": "text/csv" }, body: file });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function cicPercent(x) {
  return `${(100 * x).toFixed(1)} %`;
}

function cicRow(cells) {
  const tr = el("tr");
  for (const c of cells) {
    const td = el("td", c instanceof Node ? null : c);
    if (c instanceof Node) td.appendChild(c);
    tr.appendChild(td);
  }
  return tr;
}

async function cicCampaignBoard(api, $) {
  let found;
  try {
    found = await api("GET", "/api/campaigns");
  } catch (e) {
    $("campaign-error").textContent = e.message;
    return;
  }
  const picked = $("campaign-import-to").value;
  $("campaign-import-to").replaceChildren(...found.campaigns.map((c) => {
    const o = document.createElement("option");
    o.value = c.id;
    o.textContent = c.campaign;
    return o;
  }));
  if (picked) $("campaign-import-to").value = picked;
  $("campaign-board").tBodies[0].replaceChildren(...found.campaigns.map((c) => {
    const toggle = el("button", c.state === "running" ? t("Pause") : t("Start"));
    toggle.type = "button";
    toggle.disabled = c.state === "finished";
    toggle.onclick = async () => {
      try {
        await api("POST", `/api/campaigns/${c.id}/${c.state === "running" ? "pause" : "start"}`);
        cicCampaignSaid($, "");
      } catch (e) { cicCampaignSaid($, e.message, true); }
      cicCampaignBoard(api, $);
    };
    const tr = cicRow([c.campaign, c.channel === "voice" ? `${t("voice")} (${t(c.mode)})` : t(c.channel), t(c.state), c.contacts,
                    c.attempts, c.reached, c.conversions, c.channel === "voice" ? cicPercent(c.abandon_rate) : "-",
                    c.replies, toggle]);
    tr.dataset.campaign = c.campaign;
    return tr;
  }));
}

// The board's new-campaign form, as the API takes it; empty fields keep the defaults.
// What the campaign section says: an error in red (role=alert), a success in the page's own colour.
function cicCampaignSaid($, text, failed = false) {
  $("campaign-error").textContent = failed ? text : "";
  $("campaign-ok").textContent = failed ? "" : text;
}

function cicCampaignSettings(form) {
  const f = new FormData(form);
  const text = (k) => String(f.get(k) || "").trim();
  const body = { name: text("name"), channel: text("channel"), max_attempts: Number(text("max_attempts")),
                 hours: { start: text("start"), end: text("end"), days: f.getAll("days") } };
  for (const k of ["title", "queue", "subject", "template", "script"]) if (text(k)) body[k] = text(k);
  if (body.channel === "voice") {
    body.mode = text("mode");
    body.max_abandon_rate = Number(text("max_abandon_rate"));
  }
  const conversions = text("conversions").split(",").map((c) => c.trim()).filter(Boolean);
  if (conversions.length) body.conversions = conversions;
  return body;
}

function cicCampaignForms(api, $) {
  $("campaign-form").onsubmit = async (e) => {
    e.preventDefault();
    try {
      const made = await api("POST", "/api/campaigns", cicCampaignSettings(e.target));
      cicCampaignSaid($, t("campaign created (paused): import its list, then start it"));
      e.target.reset();
      $("campaign-new").open = false;
      await cicCampaignBoard(api, $);
      $("campaign-import-to").value = made.id;
    } catch (err) { cicCampaignSaid($, err.message, true); }
  };
  $("campaign-import").onsubmit = async (e) => {
    e.preventDefault();
    const file = $("campaign-file").files[0];
    if (!file) return;
    try {
      const report = await cicUploadCsv(`/api/campaigns/${$("campaign-import-to").value}/contacts`, file);
      $("campaign-import-report").replaceChildren(
        el("li", t("{summary}: {added} added, {already} already in the campaign",
                   { summary: report.summary, added: report.added, already: report.already })),
        ...report.errors.map((x) => el("li", t("row {row}: {problem}", { row: x.row, problem: x.problem }), "error")));
      cicCampaignSaid($, "");
    } catch (err) { cicCampaignSaid($, err.message, true); }
    cicCampaignBoard(api, $);
  };
  $("dnc-form").onsubmit = async (e) => {
    e.preventDefault();
    const value = $("dnc-address").value.trim();
    const body = value.includes("@") ? { email: value } : { phone: value };
    body.reason = $("dnc-reason").value;
    try {
      const added = await api("POST", "/api/dnc", body);
      cicCampaignSaid($, t("{value} is on the do-not-contact list", { value: added.value }));
      $("dnc-address").value = "";
    } catch (err) { cicCampaignSaid($, err.message, true); }
  };
}

// The campaign side of an interaction, if it has one: what to say, the list's row, and Dial
// for a preview the agent has accepted.
async function cicCampaignRecord(api, id, state, $) {
  const box = $("campaign-record");
  let record;
  try {
    record = await api("GET", `/api/interactions/${id}/campaign`);
  } catch (e) {
    box.hidden = true;
    return;
  }
  box.hidden = false;
  $("campaign-title").textContent = `${record.title || record.campaign} · ${t("attempt {n}", { n: record.attempt })}`;
  $("campaign-script").textContent = record.script;
  $("campaign-fields").replaceChildren(el("li", `${record.name || ""} ${record.number}`.trim()),
    ...Object.entries(record.fields).map(([k, v]) => el("li", `${k}: ${v}`)));
  const dial = $("campaign-dial");
  dial.hidden = !(record.mode === "preview" && record.outcome === null && state === "active");
  dial.onclick = async () => {
    dial.disabled = true;
    try {
      await api("POST", `/api/interactions/${id}/campaign-dial`);
      $("campaign-dial-error").textContent = "";
    } catch (e) { $("campaign-dial-error").textContent = e.message; }
    dial.disabled = false;
  };
}
