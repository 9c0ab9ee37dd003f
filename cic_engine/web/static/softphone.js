// The agent's phone in the inbox: JsSIP (vendored, loaded only when the engine has a
// [softphone]) registers this browser with FreeSWITCH as the agent's login, with a short-lived
// credential the engine issues (POST /api/me/sip); the voice adapter rings it like a desk phone.
// The call's own controls (hold, transfer, record, hang up) stay the engine's, on the
// conversation; this panel is the handset: ring, answer, decline, mute, keypad, devices.
"use strict";

const cicPhone = (() => {
  const JSSIP = "/static/jssip-3.13.8.min.js";
  const $ = (id) => document.getElementById(id);
  let ua = null;
  let session = null;
  let renewTimer = null;
  let ringTimer = null;
  let api = null;
  let answerRinging = () => false; // the call ringing now, answered; false when none rings
  let wanted = false; // the agent is logged in with a softphone: keep it registered
  const remote = new Audio();
  remote.autoplay = true;

  function loadLibrary() {
    if (window.JsSIP) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = JSSIP;
      script.onload = resolve;
      script.onerror = () => reject(new Error("the softphone library did not load"));
      document.head.append(script);
    });
  }

  function status(state, text) {
    const badge = $("phone-status");
    badge.dataset.state = state;
    badge.textContent = text;
  }

  function showCall(view, who) {
    // view: "idle" | "ringing" | "talking"
    $("phone-call").dataset.view = view;
    $("phone-call").hidden = view === "idle";
    $("phone-who").textContent = who || "";
    $("phone-answer").hidden = $("phone-decline").hidden = view !== "ringing";
    $("phone-mute").hidden = $("phone-hangup").hidden = $("phone-keypad").hidden = view !== "talking";
    $("phone-mute").setAttribute("aria-pressed", "false");
    $("phone-mute").textContent = t("Mute");
  }

  // A ring the agent hears even with the tab in the background (WebAudio, no sound file).
  function ring(on) {
    clearInterval(ringTimer);
    ringTimer = null;
    if (!on) return;
    const burst = () => {
      try {
        const ctx = new (window.AudioContext || window.webkitAudioContext)();
        const osc = ctx.createOscillator();
        const gain = ctx.createGain();
        osc.frequency.value = 440;
        gain.gain.value = 0.08;
        osc.connect(gain).connect(ctx.destination);
        osc.start();
        setTimeout(() => { osc.stop(); ctx.close(); }, 900);
      } catch (e) { /* no audio output: the banner still shows */ }
    };
    burst();
    ringTimer = setInterval(burst, 3000);
  }

  function error(text) {
    $("phone-error").textContent = text || "";
  }

  async function fetchCredential() {
    return api("POST", "/api/me/sip", {});
  }

  function renewIn(sip) {
    // A fresh credential well before this one ends; the switch keeps the registration going.
    clearTimeout(renewTimer);
    const left = new Date(sip.expires_at).getTime() - Date.now();
    renewTimer = setTimeout(renew, Math.max(30000, left * 0.8));
  }

  async function renew() {
    if (!wanted || !ua) return;
    try {
      const sip = await fetchCredential();
      ua.set("password", sip.password);
      ua.register();
      renewIn(sip);
    } catch (e) {
      status("off", t("Phone offline"));
      renewTimer = setTimeout(renew, 10000);
    }
  }

  function iceServers(sip) {
    return (sip.ice_servers || []).map((s) => ({ urls: s.urls, username: s.username, credential: s.credential }));
  }

  const videoAllowed = () => localStorage.getItem("cic-phone-video") === "1";
  // What the page sends: the chosen microphone, and the camera only on a video call the agent
  // allows (a caller who offers video, an agent who ticked the box).
  function media(video) {
    const mic = localStorage.getItem("cic-phone-mic");
    return { audio: mic ? { deviceId: { exact: mic } } : true, video: video && videoAllowed() };
  }
  const offersVideo = (s) => !!(s._request && /^m=video [1-9]/m.test(s._request.body || ""));

  async function start(request) {
    if (ua) return;  // registered already
    api = request;
    wanted = true;
    $("phone").hidden = false;
    status("off", t("Phone connecting"));
    showCall("idle");
    let sip;
    try {
      await loadLibrary();
      sip = await fetchCredential();
    } catch (e) {
      status("off", t("Phone offline"));
      error(e.message);
      return;
    }
    if (!wanted) return;
    ua = new JsSIP.UA({
      sockets: [new JsSIP.WebSocketInterface(sip.ws_url)],
      uri: `sip:${sip.username}@${sip.domain}`,
      password: sip.password,
      register: true,
      // FreeSWITCH's Min-SE is 120 s: JsSIP's 90 s timers would get 422 and no call.
      session_timers: false,
      user_agent: "cic-engine inbox",
    });
    ua.on("connected", () => status("off", t("Phone connecting")));
    ua.on("disconnected", () => status("off", t("Phone offline")));
    ua.on("registered", () => { status("on", t("Phone ready")); error(""); });
    ua.on("unregistered", () => status("off", t("Phone offline")));
    ua.on("registrationFailed", (e) => {
      status("off", t("Phone offline"));
      error(t("The switch refused the phone ({cause})", { cause: e.cause }));
    });
    ua.on("newRTCSession", (e) => incoming(e, sip));
    ua.start();
    renewIn(sip);
  }

  function incoming(e, sip) {
    if (e.originator !== "remote") return;
    if (session) {  // one call at a time: a second ring is busy, and the engine offers it elsewhere
      e.session.terminate({ status_code: 486, reason_phrase: "Busy Here" });
      return;
    }
    session = e.session;
    const caller = session.remote_identity;
    const who = (caller.display_name || (caller.uri && caller.uri.user) || t("Caller"));
    showCall("ringing", t("Incoming call: {who}", { who }));
    ring(true);
    error("");
    session.on("peerconnection", (p) => attach(p.peerconnection));
    session.on("accepted", () => {
      ring(false);
      showCall("talking", t("On a call: {who}", { who }));
      watchMedia(session);
    });
    const over = (ev) => {
      ring(false);
      clearInterval(mediaTimer);
      if (ev && ev.cause === JsSIP.C.causes.USER_DENIED_MEDIA_ACCESS) {
        error(t("The microphone is blocked: allow it for this site, then take the next call"));
      }
      session = null;
      remote.srcObject = null;
      $("phone-video").srcObject = null;
      $("phone-video").hidden = true;
      showCall("idle");
    };
    session.on("ended", over);
    session.on("failed", over);
    answerRinging = () => {
      if (!session || session.isEstablished() || session.isEnded()) return false;
      session.answer({ mediaConstraints: media(offersVideo(session)), pcConfig: { iceServers: iceServers(sip) } });
      return true;
    };
    $("phone-answer").onclick = answerRinging;
    $("phone-decline").onclick = () => session && session.terminate({ status_code: 486, reason_phrase: "Busy Here" });
  }

  // A call whose media path is gone is over, even if its hang-up never reached the page (it went
  // to a WebSocket that dropped): once the switch stops answering the browser's connectivity
  // checks (ICE consent), the page ends the call too. Not silence: on hold nothing comes, and
  // the call is fine.
  let mediaTimer = null;
  const LOST_S = 6;
  function watchMedia(watched) {
    let away = 0;
    clearInterval(mediaTimer);
    mediaTimer = setInterval(() => {
      const pc = watched.connection;
      if (watched !== session || !pc) { clearInterval(mediaTimer); return; }
      const state = pc.iceConnectionState;
      away = state === "disconnected" || state === "failed" || state === "closed" ? away + 1 : 0;
      if (away * 2 >= LOST_S && watched === session) {
        clearInterval(mediaTimer);
        error(t("The call was lost"));
        try { watched.terminate(); } catch (e) { /* ended meanwhile */ }
      }
    }, 2000);
  }

  function attach(pc) {
    pc.addEventListener("track", (ev) => {
      const stream = ev.streams[0] || new MediaStream([ev.track]);
      if (ev.track.kind === "video") {
        if (videoAllowed()) { $("phone-video").srcObject = stream; $("phone-video").hidden = false; }
        return;
      }
      remote.srcObject = stream;
      const speaker = localStorage.getItem("cic-phone-speaker");
      if (speaker && remote.setSinkId) remote.setSinkId(speaker).catch(() => {});
    });
  }

  async function listDevices() {
    let devices = [];
    try {
      devices = await navigator.mediaDevices.enumerateDevices();
    } catch (e) { return; }
    const fill = (select, kind, key) => {
      const chosen = localStorage.getItem(key) || "";
      const options = [["", t("Default")], ...devices.filter((d) => d.kind === kind)
        .map((d, i) => [d.deviceId, d.label || `${kind} ${i + 1}`])];
      select.replaceChildren(...options.map(([value, label]) => {
        const o = document.createElement("option");
        o.value = value;
        o.textContent = label;
        return o;
      }));
      select.value = options.some(([v]) => v === chosen) ? chosen : "";
      select.onchange = () => {
        localStorage.setItem(key, select.value);
        if (kind === "audiooutput" && remote.setSinkId) remote.setSinkId(select.value).catch(() => {});
      };
    };
    fill($("phone-mic"), "audioinput", "cic-phone-mic");
    fill($("phone-speaker"), "audiooutput", "cic-phone-speaker");
    $("phone-speaker").disabled = !remote.setSinkId;
  }

  // Hang up, unregister and close; resolves once the switch let go (or after 3 s).
  function stop() {
    wanted = false;
    clearTimeout(renewTimer);
    ring(false);
    const closing = ua;
    ua = null;
    session = null;
    if ($("phone")) $("phone").hidden = true;
    if (!closing) return Promise.resolve();
    return new Promise((resolve) => {
      closing.on("disconnected", resolve);
      setTimeout(resolve, 3000);
      try { closing.stop(); } catch (e) { resolve(); }
    });
  }

  function wire() {
    $("phone-hangup").onclick = () => session && session.terminate();
    $("phone-mute").onclick = () => {
      if (!session) return;
      const muted = session.isMuted().audio;
      if (muted) session.unmute({ audio: true }); else session.mute({ audio: true });
      $("phone-mute").setAttribute("aria-pressed", String(!muted));
      $("phone-mute").textContent = muted ? t("Mute") : t("Unmute");
    };
    $("phone-keypad").addEventListener("click", (e) => {
      const key = e.target.dataset && e.target.dataset.key;
      if (key && session) session.sendDTMF(key, { transportType: "RFC2833" });
    });
    $("phone-devices").addEventListener("toggle", () => { if ($("phone-devices").open) listDevices(); });
    $("phone-allow-video").checked = videoAllowed();
    $("phone-allow-video").onchange = (e) => localStorage.setItem("cic-phone-video", e.target.checked ? "1" : "0");
    // A closed tab hangs up and unregisters at once, rather than leave the switch ringing a page
    // that is gone until the WebSocket times out.
    window.addEventListener("pagehide", () => { if (ua) ua.stop(); });
  }

  document.addEventListener("DOMContentLoaded", wire);
  return { start, stop, answer: () => answerRinging(), get session() { return session; },
           get registered() { return !!ua && ua.isRegistered(); } };
})();
