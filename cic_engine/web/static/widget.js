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

  // The customer's language: the page may say (data-lang), else the browser's first choice.
  const STRINGS = {
    en: {
      title: "Chat with us", greeting: "Hello! How can we help you today?", name: "Your name",
      email_optional: "Email (optional)", start: "Start chat", your_email: "Your email", your_message: "Your message",
      closed_intro: "We are closed right now. Leave a message and we will answer by email.",
      send_message: "Send message", typing: "The agent is typing…", type_message: "Type a message",
      send_file: "Send a file", send: "Send", transcript: "Email me the transcript", confirm_email: "Confirm my email",
      code_placeholder: "6-digit code", code_label: "Code from the mail", confirm: "Confirm",
      connecting: "connecting…", reconnecting: "reconnecting…", offline_thanks: "Thank you. We will answer by email.",
      code_sent: "We mailed a code to {email}. Type it here to confirm the address.",
      verified: "Thank you: {email} is confirmed.", file_too_large: "The file is too large: the limit is {mb} MB.",
      file_unavailable: "{name} (could not be fetched)", you: "You", agent: "Agent",
      joined: "{agent} joined the chat.",
      agent_ended: "The agent has ended the chat. Write here to continue, or start a new chat.",
      transferring: "We are passing you to a colleague. Please wait a moment.",
      requeued: "Please wait: the next free agent will be with you.", new_chat: "Start a new chat",
      end_chat: "End chat", you_ended: "You ended the chat.", score_label: "{n} of 5",
      minimize: "Minimise the chat",
      still_waiting: "Thank you for waiting: all our agents are busy, and you are still in line.",
      call_us: "Call us", calling: "Calling…", in_call: "On the call", hang_up: "Hang up", mute: "Mute",
      unmute: "Unmute", call_ended: "The call has ended.", mic_blocked: "Allow this site to use your microphone, then call again.",
      call_failed: "The call could not be connected. Please try again or keep chatting.",
      call_closed: "We take calls only during opening hours; please keep chatting.",
      call_limit: "This chat has placed all the calls it may.", video_call: "Video call",
    },
    "zh-CN": {
      title: "在线客服", greeting: "您好！请问有什么可以帮您？", name: "您的姓名", email_optional: "电子邮箱（选填）",
      start: "开始对话", your_email: "您的电子邮箱", your_message: "您的留言",
      closed_intro: "现在是非工作时间。请留言，我们会通过电子邮件回复您。", send_message: "发送留言",
      typing: "客服正在输入…", type_message: "请输入消息", send_file: "发送文件", send: "发送",
      transcript: "将聊天记录发到我的邮箱", confirm_email: "验证我的邮箱", code_placeholder: "6 位验证码",
      code_label: "邮件中的验证码", confirm: "确认", connecting: "正在连接…", reconnecting: "正在重新连接…",
      offline_thanks: "谢谢！我们会通过电子邮件回复您。",
      code_sent: "验证码已发送至 {email}，请在此输入以确认邮箱。", verified: "谢谢，{email} 已验证。",
      file_too_large: "文件过大：上限为 {mb} MB。", file_unavailable: "{name}（无法获取）", you: "我", agent: "客服",
      joined: "{agent} 已加入对话。", agent_ended: "客服已结束本次对话。您可以在此继续留言，或开始新的对话。",
      transferring: "正在为您转接其他同事，请稍候。", requeued: "请稍候，下一位空闲的客服将为您服务。",
      new_chat: "开始新的对话", end_chat: "结束对话", you_ended: "您已结束本次对话。", score_label: "{n} 分（满分 5 分）",
      minimize: "收起对话窗口", still_waiting: "感谢您的耐心等待：客服正忙，您仍在排队中。",
      call_us: "语音通话", calling: "正在呼叫…", in_call: "通话中", hang_up: "挂断", mute: "静音", unmute: "取消静音",
      call_ended: "通话已结束。", mic_blocked: "请允许本网站使用麦克风，然后再次拨打。",
      call_failed: "通话未能接通，请重试或继续文字聊天。", call_closed: "非工作时间不接听电话，请继续文字聊天。",
      call_limit: "本次对话的通话次数已用完。", video_call: "视频通话",
    },
  };
  const wanted = script.dataset.lang || (navigator.languages && navigator.languages[0]) || navigator.language || "en";
  const lang = /^zh/i.test(wanted) ? "zh-CN" : "en";
  let overrides = {}; // the channel file's own words for this language (settings.texts)
  function channelText(key, configured) {
    // The channel file's title or greeting: its words for this language, else its own words,
    // else (not configured: the built-in English) ours in this language.
    return overrides[key] || (configured && configured !== STRINGS.en[key] ? configured : t(key));
  }
  function t(key, params) {
    let text = overrides[key] || STRINGS[lang][key] || STRINGS.en[key] || key;
    for (const [k, v] of Object.entries(params || {})) text = text.split(`{${k}}`).join(String(v));
    return text;
  }

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

  const button = make("button", { class: "launcher", part: "launcher", type: "button" }, t("title"));
  const panel = make("div", { class: "panel", hidden: "", lang });
  const header = make("div", { class: "title" });
  const title = make("span", {}, t("title"));
  const end = make("button", { type: "button", class: "end", hidden: "" }, t("end_chat"));
  const close = make("button", { type: "button", class: "close", "aria-label": t("minimize"), title: t("minimize") }, "×");
  const callButton = make("button", { type: "button", class: "call", hidden: "" }, t("call_us"));
  const videoButton = make("button", { type: "button", class: "call video", hidden: "" }, t("video_call"));
  header.append(title, callButton, videoButton, end, close);
  const form = make("form", { class: "prechat" });
  const nameInput = make("input", { name: "name", placeholder: t("name"), required: "", maxlength: "200", "aria-label": t("name") });
  const emailInput = make("input", { name: "email", type: "email", placeholder: t("email_optional"), maxlength: "254", "aria-label": t("email_optional") });
  const startButton = make("button", { type: "submit" }, t("start"));
  form.append(nameInput, emailInput, startButton);
  const offline = make("form", { class: "prechat offline", hidden: "" });
  const offlineName = make("input", { name: "name", placeholder: t("name"), required: "", maxlength: "200", "aria-label": t("name") });
  const offlineEmail = make("input", { name: "email", type: "email", placeholder: t("your_email"), required: "", maxlength: "254", "aria-label": t("your_email") });
  const offlineText = make("textarea", { name: "text", rows: "4", placeholder: t("your_message"), required: "", "aria-label": t("your_message") });
  const closedIntro = make("p", {}, t("closed_intro"));
  const offlineSend = make("button", { type: "submit" }, t("send_message"));
  offline.append(closedIntro, offlineName, offlineEmail, offlineText, offlineSend);
  const log = make("ol", { class: "log", "aria-live": "polite" });
  const typing = make("div", { class: "typing", hidden: "" }, t("typing"));
  const composer = make("form", { class: "composer", hidden: "" });
  const input = make("textarea", { rows: "2", placeholder: t("type_message"), "aria-label": t("type_message") });
  const picker = make("input", { type: "file", class: "picker", hidden: "" });
  const attach = make("button", { type: "button", class: "attach", title: t("send_file"), "aria-label": t("send_file") });
  // A paperclip drawn, not an emoji: not every system has an emoji font.
  const clip = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  clip.setAttribute("viewBox", "0 0 24 24");
  clip.setAttribute("width", "20");
  clip.setAttribute("height", "20");
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", "M16.5 6.5 8.6 14.4a2 2 0 0 0 2.8 2.8l8-8a4 4 0 0 0-5.7-5.7l-8 8a6 6 0 0 0 8.5 8.5l7-7");
  path.setAttribute("fill", "none");
  path.setAttribute("stroke", "currentColor");
  path.setAttribute("stroke-width", "2");
  path.setAttribute("stroke-linecap", "round");
  clip.appendChild(path);
  attach.appendChild(clip);
  const sendButton = make("button", { type: "submit", class: "send" }, t("send"));
  composer.append(attach, input, sendButton, picker);
  const again = make("button", { type: "button", class: "new-chat", hidden: "" }, t("new_chat"));
  let settings = { max_upload_mb: 5, upload_types: [] };
  const files = []; // files not acknowledged yet: kept in memory only (too big for localStorage)
  const status = make("div", { class: "status" });
  const transcript = make("button", { type: "button", class: "transcript", hidden: "" }, t("transcript"));
  const confirm = make("button", { type: "button", class: "confirm-email", hidden: "" }, t("confirm_email"));
  const codeForm = make("form", { class: "code", hidden: "" });
  const codeInput = make("input", { name: "code", inputmode: "numeric", maxlength: "6", placeholder: t("code_placeholder"),
                                    "aria-label": t("code_label") });
  const codeConfirm = make("button", { type: "submit" }, t("confirm"));
  codeForm.append(codeInput, codeConfirm);
  const vouched = script.dataset.signature ? { user_id: script.dataset.userId || "", email: script.dataset.email || "",
                                               signature: script.dataset.signature } : null;
  let chatEmail = null;
  let verified = false;
  const callBar = make("div", { class: "call-bar", hidden: "", role: "status" });
  const callState = make("span", { class: "call-state" });
  const muteButton = make("button", { type: "button", class: "mute", "aria-pressed": "false" }, t("mute"));
  const hangButton = make("button", { type: "button", class: "hang-up" }, t("hang_up"));
  callBar.append(callState, muteButton, hangButton);
  const remoteVideo = make("video", { class: "remote-video", autoplay: "", playsinline: "", hidden: "" });
  remoteVideo.muted = true; // the sound plays through the audio element
  panel.append(header, callBar, remoteVideo, form, offline, log, typing, composer, again, confirm, codeForm, transcript, status);
  if (vouched) emailInput.hidden = true; // the site told us who this is
  root.append(button, panel);

  button.onclick = () => {
    panel.hidden = !panel.hidden;
    if (!panel.hidden && state.token && !socket) connect(null);
  };
  close.onclick = () => { panel.hidden = true; button.focus(); };

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
      }).catch(() => { link.textContent = t("file_unavailable", { name: f.filename }); });
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
    // The customer's own messages are "You", whatever name the chat was started with.
    const author = message.direction === "inbound" ? t("you") : (message.author || t("agent"));
    li.append(make("div", { class: "author" }, author));
    if (message.text) li.appendChild(make("div", { class: "text" }, message.text));
    if (message.local) li.appendChild(localFile(message.local));
    for (const f of message.files || []) li.appendChild(fileLink(f));
    if (message.kind === "survey" && message.direction === "outbound") {
      // The satisfaction question: one click answers it (sent as the score, like a typed reply).
      const scores = make("div", { class: "rating" });
      for (let n = 1; n <= 5; n++) {
        const button = make("button", { type: "button", class: "score", "aria-label": t("score_label", { n }) }, String(n));
        button.onclick = () => { sendText(String(n)); scores.remove(); };
        scores.appendChild(button);
      }
      li.appendChild(scores);
    }
    log.appendChild(li);
    log.scrollTop = log.scrollHeight;
  }

  function localFile(file) {
    // A file the customer is sending: its name, and an image shown from the page's own copy.
    const box = make("div", { class: "files" });
    box.appendChild(make("span", { class: "file" }, file.name));
    if (/^image\/(png|jpeg|gif|webp)$/.test(file.type)) {
      const img = make("img", { class: "preview", alt: file.name });
      img.src = URL.createObjectURL(file);
      box.appendChild(img);
    }
    return box;
  }

  function notice(text) {
    log.appendChild(make("li", { class: "notice" }, text));
    log.scrollTop = log.scrollHeight;
  }

  function connect(start) {
    const url = base.replace(/^http/, "ws") + `/chat/${encodeURIComponent(adapter)}/socket`;
    socket = new WebSocket(url);
    status.textContent = t("connecting");
    socket.onopen = () => {
      retry = 500;
      status.textContent = "";
      if (state.token) socket.send(JSON.stringify({ type: "resume", token: state.token, after: shown }));
      else socket.send(JSON.stringify(Object.assign({ type: "start", language: lang }, start)));
    };
    socket.onmessage = (event) => receive(JSON.parse(event.data));
    socket.onclose = () => {
      socket = null;
      status.textContent = t("reconnecting");
      if (state.token) setTimeout(() => connect(null), retry);
      retry = Math.min(retry * 2, 10000);
    };
  }

  function receive(m) {
    if (m.type === "session") {
      if (m.token) {
        state.token = m.token;
        save();
        notice(channelText("greeting", m.greeting));
      }
      form.hidden = true;
      offline.hidden = true;
      composer.hidden = false;
      again.hidden = true;
      end.hidden = false;
      callButton.hidden = !settings.call;
      videoButton.hidden = !settings.video_call;
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
      notice(m.code && STRINGS.en[m.code] ? t(m.code, { agent: m.agent || t("agent") }) : m.text);
      if (m.code === "agent_ended") again.hidden = false;
      else if (m.code === "joined") again.hidden = true;
    } else if (m.type === "ended") {
      notice(t("you_ended"));
      forget();
    } else if (m.type === "code_sent") {
      codeForm.hidden = false;
      confirm.hidden = true;
      notice(t("code_sent", { email: m.email }));
    } else if (m.type === "verified") {
      verified = true;
      codeForm.hidden = true;
      notice(t("verified", { email: m.email }));
      showEmailActions();
    } else if (m.type === "call") {
      placeCall(m);
    } else if (m.type === "error") {
      if (!call && callBar.hidden) callButton.disabled = videoButton.disabled = false;
      if (m.code && m.code.startsWith("call-")) {
        notice(t(m.code.replace("-", "_")));
        return;
      }
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

  // "Call us": the engine gives this chat a ticket for one call; the browser dials it over
  // WebRTC (JsSIP from the engine, loaded only now) into the switch's visitors' profile.
  let call = null;
  let phone = null;
  const remoteAudio = new Audio();
  remoteAudio.autoplay = true;
  function loadJsSIP() {
    if (window.JsSIP) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const tag = document.createElement("script");
      tag.src = base + "/static/jssip-3.13.8.min.js";
      tag.onload = resolve;
      tag.onerror = reject;
      document.head.appendChild(tag);
    });
  }
  function callOver(text) {
    if (text) notice(text);
    callBar.hidden = true;
    callButton.disabled = videoButton.disabled = false;
    callButton.hidden = !settings.call;
    videoButton.hidden = !settings.video_call;
    call = null;
    remoteAudio.srcObject = null;
    remoteVideo.srcObject = null;
    remoteVideo.hidden = true;
    if (phone) { try { phone.stop(); } catch (e) { /* gone */ } }
    phone = null;
  }
  async function placeCall(ticket) {
    callBar.hidden = false;
    callButton.hidden = true;
    videoButton.hidden = true;
    callState.textContent = t("calling");
    muteButton.hidden = true;
    try {
      await loadJsSIP();
    } catch (e) {
      callOver(t("call_failed"));
      return;
    }
    phone = new JsSIP.UA({ sockets: [new JsSIP.WebSocketInterface(ticket.ws_url)], uri: `sip:visitor@${ticket.domain}`,
                           register: false, session_timers: false, user_agent: "cic-engine widget" });
    phone.on("connected", () => {
      if (call) return;
      // JsSIP makes the peer connection inside call(): its handler must come with the call.
      const peerconnection = (p) => p.peerconnection.addEventListener("track", (ev) => {
        const stream = ev.streams[0] || new MediaStream([ev.track]);
        if (ev.track.kind === "video") {
          remoteVideo.srcObject = stream;
          remoteVideo.hidden = false;
        } else {
          remoteAudio.srcObject = stream;
        }
      });
      call = phone.call(ticket.uri, { mediaConstraints: { audio: true, video: !!ticket.video },
                                      pcConfig: { iceServers: ticket.ice_servers || [] },
                                      eventHandlers: { peerconnection } });
      call.on("confirmed", () => { callState.textContent = t("in_call"); muteButton.hidden = false; });
      call.on("ended", () => callOver(t("call_ended")));
      call.on("failed", (ev) => callOver(ev.cause === JsSIP.C.causes.USER_DENIED_MEDIA_ACCESS ? t("mic_blocked")
                                                                                            : t("call_failed")));
    });
    phone.on("disconnected", () => { if (call && !call.isEnded()) call.terminate(); else if (!call) callOver(t("call_failed")); });
    phone.start();
  }
  const askCall = (video) => {
    if (!socket || call || !callBar.hidden) return;
    callButton.disabled = videoButton.disabled = true;
    socket.send(JSON.stringify({ type: "call", video }));
  };
  callButton.onclick = () => askCall(false);
  videoButton.onclick = () => askCall(true);
  hangButton.onclick = () => { if (call) call.terminate(); else callOver(""); };
  muteButton.onclick = () => {
    if (!call) return;
    const muted = call.isMuted().audio;
    if (muted) call.unmute({ audio: true }); else call.mute({ audio: true });
    muteButton.setAttribute("aria-pressed", String(!muted));
    muteButton.textContent = muted ? t("mute") : t("unmute");
  };
  window.addEventListener("pagehide", () => { if (phone) phone.stop(); });

  offline.onsubmit = (e) => {
    e.preventDefault();
    const message = { type: "offline", id: newId(), name: offlineName.value, email: offlineEmail.value, text: offlineText.value };
    const url = base.replace(/^http/, "ws") + `/chat/${encodeURIComponent(adapter)}/socket`;
    const once = new WebSocket(url);
    once.onopen = () => once.send(JSON.stringify(message));
    once.onmessage = (event) => {
      const m = JSON.parse(event.data);
      if (m.type === "ack") { offline.hidden = true; notice(t("offline_thanks")); once.close(); }
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

  function forget() {
    // This chat is over on this page: the next message starts a new one, from the form.
    state.token = null;
    state.pending = [];
    save();
    if (socket) { socket.onclose = null; socket.close(); socket = null; }
    composer.hidden = true;
    end.hidden = true;
    again.hidden = true;
    confirm.hidden = true;
    transcript.hidden = true;
    codeForm.hidden = true;
    form.hidden = false;
  }
  end.onclick = () => {
    if (socket && socket.readyState === 1) socket.send(JSON.stringify({ type: "leave" }));
  };
  again.onclick = () => {
    if (socket && socket.readyState === 1) socket.send(JSON.stringify({ type: "leave" }));
    else forget();
  };

  function sendText(text) {
    const id = newId();
    state.pending.push({ id, text });
    save();
    bubble({ id, direction: "inbound", text, state: "sending" });
    if (socket && socket.readyState === 1) socket.send(JSON.stringify({ type: "message", id, text }));
  }
  composer.onsubmit = (e) => {
    e.preventDefault();
    const text = input.value;
    if (!text.trim()) return;
    input.value = "";
    sendText(text);
  };
  input.onkeydown = (e) => {
    // Enter sends, Shift+Enter is a new line; not while an input method is composing (Pinyin).
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      composer.requestSubmit();
    }
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
      status.textContent = t("file_too_large", { mb: settings.max_upload_mb });
      return;
    }
    const reader = new FileReader();
    reader.onload = () => {
      const id = newId();
      const message = { type: "file", id, filename: file.name, content_type: file.type,
                        data: String(reader.result).split(",")[1] || "" };
      files.push(message);
      bubble({ id, direction: "inbound", text: "", local: file, state: "sending" });
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
    overrides = (s.texts || {})[lang] || {};
    const named = channelText("title", s.title);
    title.textContent = named;
    button.textContent = named;
    for (const [node, key] of [[nameInput, "name"], [offlineName, "name"], [emailInput, "email_optional"],
      [offlineEmail, "your_email"], [offlineText, "your_message"], [input, "type_message"], [codeInput, "code_placeholder"]]) {
      node.placeholder = t(key);
      node.setAttribute("aria-label", key === "code_placeholder" ? t("code_label") : t(key));
    }
    for (const [node, key] of [[startButton, "start"], [closedIntro, "closed_intro"], [offlineSend, "send_message"],
      [typing, "typing"], [sendButton, "send"], [again, "new_chat"], [end, "end_chat"], [transcript, "transcript"],
      [confirm, "confirm_email"], [codeConfirm, "confirm"]]) node.textContent = t(key);
    attach.title = t("send_file");
    attach.setAttribute("aria-label", t("send_file"));
    if (!s.open && !state.token) { form.hidden = true; offline.hidden = false; }
  }).catch(() => {});
  if (state.token) { panel.hidden = false; connect(null); }
})();
