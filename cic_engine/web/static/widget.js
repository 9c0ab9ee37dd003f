// The web chat widget: one <script src=".../static/widget.js" data-adapter="webchat"> on any page.
// A site that knows its visitor vouches for them with data-user-id, data-email and
// data-signature (hex HMAC-SHA256 of user id + "\n" + email with the channel's visitor_secret);
// otherwise an email typed here is a claim the customer confirms with a code mailed to it.
// It lives in a shadow root (the site's styles do not leak in), puts every text on the page as
// text, never as HTML, and keeps messages not yet acknowledged in localStorage: after a
// reconnect or a reload they are sent again with the same id, which the engine de-duplicates.
(function () {
  "use strict";
  const script = document.currentScript;
  const base = new URL(script.src).origin;
  const adapter = script.dataset.adapter || "webchat";
  const storeKey = `cic-chat:${base}:${adapter}`;
  const state = JSON.parse(localStorage.getItem(storeKey) || "null") || { token: null, pending: [] };
  const save = () => localStorage.setItem(storeKey, JSON.stringify(state));
  let socket = null;
  let shown = 0; // the last message id on this page: a resume asks for what came after it
  let retry = 500;
  let typingTimer = null;
  let lastTyping = 0;

  const host = document.createElement("div");
  host.id = "cic-chat";
  document.body.appendChild(host);
  const root = host.attachShadow({ mode: "open" });
  const css = document.createElement("link");
  css.rel = "stylesheet";
  css.href = base + "/static/widget.css";
  root.appendChild(css);

  function make(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const button = make("button", { class: "launcher", part: "launcher", type: "button" }, "Chat with us");
  const panel = make("div", { class: "panel", hidden: "" });
  const title = make("div", { class: "title" }, "Chat with us");
  const form = make("form", { class: "prechat" });
  const nameInput = make("input", { name: "name", placeholder: "Your name", required: "", maxlength: "200", "aria-label": "Your name" });
  const emailInput = make("input", { name: "email", type: "email", placeholder: "Email (optional)", maxlength: "254", "aria-label": "Email" });
  form.append(nameInput, emailInput, make("button", { type: "submit" }, "Start chat"));
  const offline = make("form", { class: "prechat offline", hidden: "" });
  const offlineName = make("input", { name: "name", placeholder: "Your name", required: "", maxlength: "200", "aria-label": "Your name" });
  const offlineEmail = make("input", { name: "email", type: "email", placeholder: "Your email", required: "", maxlength: "254", "aria-label": "Your email" });
  const offlineText = make("textarea", { name: "text", rows: "4", placeholder: "Your message", required: "", "aria-label": "Your message" });
  offline.append(make("p", {}, "We are closed right now. Leave a message and we will answer by email."),
                 offlineName, offlineEmail, offlineText, make("button", { type: "submit" }, "Send message"));
  const log = make("ol", { class: "log", "aria-live": "polite" });
  const typing = make("div", { class: "typing", hidden: "" }, "The agent is typing…");
  const composer = make("form", { class: "composer", hidden: "" });
  const input = make("textarea", { rows: "2", placeholder: "Type a message", "aria-label": "Message" });
  const picker = make("input", { type: "file", class: "picker", hidden: "" });
  const attach = make("button", { type: "button", class: "attach", title: "Send a file", "aria-label": "Send a file" }, "📎");
  composer.append(attach, input, make("button", { type: "submit", class: "send" }, "Send"), picker);
  let settings = { max_upload_mb: 5, upload_types: [] };
  const files = []; // files not acknowledged yet: kept in memory only (too big for localStorage)
  const status = make("div", { class: "status" });
  const transcript = make("button", { type: "button", class: "transcript", hidden: "" }, "Email me the transcript");
  const confirm = make("button", { type: "button", class: "confirm-email", hidden: "" }, "Confirm my email");
  const codeForm = make("form", { class: "code", hidden: "" });
  const codeInput = make("input", { name: "code", inputmode: "numeric", maxlength: "6", placeholder: "6-digit code",
                                    "aria-label": "Code from the mail" });
  codeForm.append(codeInput, make("button", { type: "submit" }, "Confirm"));
  const vouched = script.dataset.signature ? { user_id: script.dataset.userId || "", email: script.dataset.email || "",
                                               signature: script.dataset.signature } : null;
  let chatEmail = null;
  let verified = false;
  panel.append(title, form, offline, log, typing, composer, confirm, codeForm, transcript, status);
  if (vouched) emailInput.hidden = true; // the site told us who this is
  root.append(button, panel);

  button.onclick = () => {
    panel.hidden = !panel.hidden;
    if (!panel.hidden && state.token && !socket) connect(null);
  };

  function fileLink(f) {
    // A file in the conversation (an agent's attachment): fetched with the chat's token, never
    // put in a URL; images are previewed in place.
    const link = make("a", { class: "file", href: "#" }, f.filename);
    const fetchBlob = () => fetch(base + `/chat/${encodeURIComponent(adapter)}/files/${f.id}`,
      { headers: { "X-Chat-Token": state.token || "" } }).then((r) => {
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      return r.blob();
    });
    link.onclick = (event) => {
      event.preventDefault();
      fetchBlob().then((blob) => {
        const url = URL.createObjectURL(blob);
        const save = make("a", { href: url, download: f.filename });
        save.click();
        setTimeout(() => URL.revokeObjectURL(url), 10000);
      }).catch(() => { link.textContent = `${f.filename} (could not be fetched)`; });
    };
    const box = make("div", { class: "files" });
    box.appendChild(link);
    if (/^image\/(png|jpeg|gif|webp)$/.test(f.content_type)) {
      fetchBlob().then((blob) => {
        const img = make("img", { class: "preview", alt: f.filename });
        img.src = URL.createObjectURL(new Blob([blob], { type: f.content_type }));
        box.appendChild(img);
      }).catch(() => {});
    }
    return box;
  }

  function bubble(message) {
    if (message.id && root.querySelector(`[data-client-id="${CSS.escape(message.id)}"]`)) {
      const known = root.querySelector(`[data-client-id="${CSS.escape(message.id)}"]`);
      known.dataset.state = "delivered";
      return;
    }
    const li = make("li", { class: "message " + message.direction });
    if (message.id) li.dataset.clientId = message.id;
    li.dataset.state = message.state || "delivered";
    li.append(make("div", { class: "author" }, message.author || ""), make("div", { class: "text" }, message.text));
    for (const f of message.files || []) li.appendChild(fileLink(f));
    if (message.kind === "survey" && message.direction === "outbound") {
      // The satisfaction question: one click answers it (sent as the score, like a typed reply).
      const scores = make("div", { class: "rating" });
      for (let n = 1; n <= 5; n++) {
        const button = make("button", { type: "button", class: "score", "aria-label": `${n} of 5` }, String(n));
        button.onclick = () => { sendText(String(n)); scores.remove(); };
        scores.appendChild(button);
      }
      li.appendChild(scores);
    }
    log.appendChild(li);
    log.scrollTop = log.scrollHeight;
  }

  function notice(text) {
    log.appendChild(make("li", { class: "notice" }, text));
    log.scrollTop = log.scrollHeight;
  }

  function connect(start) {
    const url = base.replace(/^http/, "ws") + `/chat/${encodeURIComponent(adapter)}/socket`;
    socket = new WebSocket(url);
    status.textContent = "connecting…";
    socket.onopen = () => {
      retry = 500;
      status.textContent = "";
      if (state.token) socket.send(JSON.stringify({ type: "resume", token: state.token, after: shown }));
      else socket.send(JSON.stringify(Object.assign({ type: "start" }, start)));
    };
    socket.onmessage = (event) => receive(JSON.parse(event.data));
    socket.onclose = () => {
      socket = null;
      status.textContent = "reconnecting…";
      if (state.token) setTimeout(() => connect(null), retry);
      retry = Math.min(retry * 2, 10000);
    };
  }

  function receive(m) {
    if (m.type === "session") {
      if (m.token) {
        state.token = m.token;
        save();
        notice(m.greeting);
      }
      form.hidden = true;
      offline.hidden = true;
      composer.hidden = false;
      chatEmail = m.email;
      verified = !!m.email_verified;
      showEmailActions();
      for (const p of state.pending) socket.send(JSON.stringify({ type: "message", id: p.id, text: p.text }));
      for (const f of files) socket.send(JSON.stringify(f));
    } else if (m.type === "message") {
      shown = Math.max(shown, m.message_id);
      typing.hidden = true;
      bubble(m);
    } else if (m.type === "ack") {
      forgetFile(m.id);
      state.pending = state.pending.filter((p) => p.id !== m.id);
      save();
      const li = root.querySelector(`[data-client-id="${CSS.escape(m.id)}"]`);
      if (li) li.dataset.state = "delivered";
    } else if (m.type === "nack") {
      forgetFile(m.id);
      state.pending = state.pending.filter((p) => p.id !== m.id);
      save();
      const li = root.querySelector(`[data-client-id="${CSS.escape(m.id)}"]`);
      if (li) li.dataset.state = "failed";
      status.textContent = m.error;
    } else if (m.type === "retry") {
      setTimeout(() => {
        const p = state.pending.find((x) => x.id === m.id);
        if (p && socket) socket.send(JSON.stringify({ type: "message", id: p.id, text: p.text }));
      }, 1000);
    } else if (m.type === "typing") {
      typing.hidden = false;
      clearTimeout(typingTimer);
      typingTimer = setTimeout(() => { typing.hidden = true; }, 4000);
    } else if (m.type === "notice") {
      notice(m.text);
    } else if (m.type === "code_sent") {
      codeForm.hidden = false;
      confirm.hidden = true;
      notice(`We mailed a code to ${m.email}. Type it here to confirm the address.`);
    } else if (m.type === "verified") {
      verified = true;
      codeForm.hidden = true;
      notice(`Thank you: ${m.email} is confirmed.`);
      showEmailActions();
    } else if (m.type === "error") {
      if (m.code === "unknown-session") {
        state.token = null;
        state.pending = [];
        save();
        form.hidden = false;
        composer.hidden = true;
      }
      status.textContent = m.error;
    }
  }

  offline.onsubmit = (e) => {
    e.preventDefault();
    const message = { type: "offline", id: newId(), name: offlineName.value, email: offlineEmail.value, text: offlineText.value };
    const url = base.replace(/^http/, "ws") + `/chat/${encodeURIComponent(adapter)}/socket`;
    const once = new WebSocket(url);
    once.onopen = () => once.send(JSON.stringify(message));
    once.onmessage = (event) => {
      const m = JSON.parse(event.data);
      if (m.type === "ack") { offline.hidden = true; notice("Thank you. We will answer by email."); once.close(); }
      else if (m.error) status.textContent = m.error;
    };
  };
  function showEmailActions() {
    confirm.hidden = !(settings.transcripts && chatEmail && !verified);
    transcript.hidden = !(settings.transcripts && chatEmail && verified);
  }
  confirm.onclick = () => {
    if (socket && socket.readyState === 1) socket.send(JSON.stringify({ type: "verify_email" }));
  };
  codeForm.onsubmit = (e) => {
    e.preventDefault();
    if (socket && socket.readyState === 1) socket.send(JSON.stringify({ type: "verify_code", code: codeInput.value.trim() }));
    codeInput.value = "";
  };
  transcript.onclick = () => {
    if (socket && socket.readyState === 1) socket.send(JSON.stringify({ type: "transcript" }));
  };

  form.onsubmit = (e) => {
    e.preventDefault();
    status.textContent = "";
    connect(vouched ? { name: nameInput.value, identity: vouched } : { name: nameInput.value, email: emailInput.value });
  };

  function sendText(text) {
    const id = newId();
    state.pending.push({ id, text });
    save();
    bubble({ id, direction: "inbound", text, author: "You", state: "sending" });
    if (socket && socket.readyState === 1) socket.send(JSON.stringify({ type: "message", id, text }));
  }
  composer.onsubmit = (e) => {
    e.preventDefault();
    const text = input.value;
    if (!text.trim()) return;
    input.value = "";
    sendText(text);
  };
  function newId() {
    return (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random()).replace(/[^A-Za-z0-9]/g, "");
  }

  function forgetFile(id) {
    const i = files.findIndex((f) => f.id === id);
    if (i >= 0) files.splice(i, 1);
  }

  attach.onclick = () => picker.click();
  picker.onchange = () => {
    const file = picker.files[0];
    picker.value = "";
    if (!file) return;
    if (file.size > settings.max_upload_mb * 1024 * 1024) {
      status.textContent = `The file is too large: the limit is ${settings.max_upload_mb} MB.`;
      return;
    }
    const reader = new FileReader();
    reader.onload = () => {
      const id = newId();
      const message = { type: "file", id, filename: file.name, content_type: file.type,
                        data: String(reader.result).split(",")[1] || "" };
      files.push(message);
      bubble({ id, direction: "inbound", text: `[file: ${file.name}]`, author: "You", state: "sending" });
      if (socket && socket.readyState === 1) socket.send(JSON.stringify(message));
    };
    reader.readAsDataURL(file);
  };

  input.oninput = () => {
    if (socket && socket.readyState === 1 && Date.now() - lastTyping > 2000) {
      lastTyping = Date.now();
      socket.send(JSON.stringify({ type: "typing" }));
    }
  };

  fetch(base + `/chat/${encodeURIComponent(adapter)}/settings`).then((r) => r.json()).then((s) => {
    settings = s;
    if (s.title) { title.textContent = s.title; button.textContent = s.title; }
    if (!s.open && !state.token) { form.hidden = true; offline.hidden = false; }
  }).catch(() => {});
  if (state.token) { panel.hidden = false; connect(null); }
})();
