// What the inbox and the department page share: the JSON API call and making text elements.
"use strict";

// The engine's JSON API; `unauthorized` runs on a 401 (the session ended: show the login).
async function cicApi(method, path, body, unauthorized) {
  const init = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const data = await response.json().catch(() => ({}));
  if (response.status === 401 && path !== "/api/login") {
    unauthorized();
    throw new Error(data.error || "log in first");
  }
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

// An element with text content: what people wrote is never parsed as HTML.
function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

// The login form of a page: log in through the API, then start the page.
function cicLoginForm(form, errorBox, api, start) {
  form.onsubmit = async (e) => {
    e.preventDefault();
    const fields = new FormData(e.target);
    try {
      await api("POST", "/api/login", { login: fields.get("login"), password: fields.get("password") });
      errorBox.textContent = "";
      start();
    } catch (err) {
      errorBox.textContent = err.message;
    }
  };
}
