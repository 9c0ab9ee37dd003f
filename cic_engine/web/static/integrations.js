// The admin's part of the board: API tokens for the company's other systems (made with their
// scopes, the token shown once, revoked at once), webhook subscriptions (the secret shown once),
// and the webhook delivery log with a replay of any delivery.
"use strict";

const CIC_DELIVERY_STATES = ["pending", "sending", "sent", "failed"];

function cicChecks(box, name, values, titles) {
  if (box.childElementCount) return;  // drawn once: a refresh must not untick what the admin ticked
  box.replaceChildren(...values.map((v) => {
    const label = el("label");
    const input = document.createElement("input");
    input.type = "checkbox";
    input.name = name;
    input.value = v;
    label.append(input, el("code", v));
    if (titles && titles[v]) label.title = titles[v];
    return label;
  }));
}

// What the last action did; a token or secret shown once goes in its own element, to be copied.
function cicIntegrationsSaid($, text, error, secret) {
  $("integrations-error").textContent = error ? text : "";
  if (error) return;
  $("integrations-made").replaceChildren(el("span", text));
  if (secret) $("integrations-made").appendChild(el("code", secret, "secret"));
}

async function cicIntegrationsBoard(api, $, when) {
  let tokens, hooks, log;
  try {
    const state = $("delivery-state").value;
    [tokens, hooks, log] = await Promise.all([
      api("GET", "/api/admin/tokens"), api("GET", "/api/admin/webhooks"),
      api("GET", "/api/admin/webhooks/deliveries" + (state ? `?state=${state}` : ""))]);
  } catch (e) {
    cicIntegrationsSaid($, e.message, true);
    return;
  }
  cicChecks($("token-scopes"), "scopes", Object.keys(tokens.scopes), tokens.scopes);
  cicChecks($("webhook-events"), "events", hooks.events);
  const button = (label, action) => {
    const b = el("button", label);
    b.type = "button";
    b.onclick = async () => {
      try { await action(); await cicIntegrationsBoard(api, $, when); } catch (err) { cicIntegrationsSaid($, err.message, true); }
    };
    return b;
  };
  $("token-board").tBodies[0].replaceChildren(...tokens.tokens.map((k) => {
    const tr = cicRow([k.name, k.scopes.join(", "), when(k.created_at), k.last_used_at ? when(k.last_used_at) : "-",
                       k.revoked_at ? t("revoked") : t("active"),
                       k.revoked_at ? "" : button(t("Revoke"), () => api("POST", `/api/admin/tokens/${k.id}/revoke`, {}))]);
    tr.dataset.name = k.name;
    return tr;
  }));
  const names = Object.fromEntries(hooks.subscriptions.map((s) => [s.id, s.name]));
  $("webhook-board").tBodies[0].replaceChildren(...hooks.subscriptions.map((s) => {
    const tr = cicRow([s.name, s.url, s.events.join(", "), s.active ? t("active") : t("paused"),
                       button(s.active ? t("Pause") : t("Resume"),
                              () => api("POST", `/api/admin/webhooks/${s.id}/active`, { active: !s.active }))]);
    tr.dataset.name = s.name;
    return tr;
  }));
  $("delivery-board").tBodies[0].replaceChildren(...log.deliveries.map((d) => {
    const tr = cicRow([String(d.id), names[d.subscription_id] || String(d.subscription_id), d.event, t(d.state),
                       String(d.attempts), d.last_error || "", when(d.sent_at || d.next_attempt_at),
                       button(t("Replay"), async () => {
                         const made = await api("POST", `/api/admin/webhooks/deliveries/${d.id}/replay`, {});
                         cicIntegrationsSaid($, t("Delivery {id} sent again as {new}", { id: d.id, new: made.id }));
                       })]);
    tr.dataset.state = d.state;
    return tr;
  }));
}

function cicIntegrationsForms(api, $, when) {
  const ticked = (form, name) => [...form.querySelectorAll(`input[name=${name}]:checked`)].map((i) => i.value);
  $("delivery-state").replaceChildren(option("", t("All")), ...CIC_DELIVERY_STATES.map((s) => option(s, t(s))));
  $("delivery-state").onchange = () => cicIntegrationsBoard(api, $, when);
  $("token-form").onsubmit = async (e) => {
    e.preventDefault();
    try {
      const made = await api("POST", "/api/admin/tokens", { name: e.target.elements.name.value,
                                                            scopes: ticked(e.target, "scopes") });
      cicIntegrationsSaid($, t("Token for {name} (shown only now: keep it in the integration's secret store):",
                               { name: made.name }), false, made.token);
      e.target.reset();
      await cicIntegrationsBoard(api, $, when);
    } catch (err) { cicIntegrationsSaid($, err.message, true); }
  };
  $("webhook-form").onsubmit = async (e) => {
    e.preventDefault();
    const name = e.target.elements.name.value;
    try {
      const made = await api("POST", "/api/admin/webhooks", { name, url: e.target.elements.url.value,
                                                              events: ticked(e.target, "events") });
      cicIntegrationsSaid($, t("Signing secret of {name} (shown only now: the receiver checks signatures with it):",
                               { name }), false, made.secret);
      e.target.reset();
      await cicIntegrationsBoard(api, $, when);
    } catch (err) { cicIntegrationsSaid($, err.message, true); }
  };
}
