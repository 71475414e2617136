"use strict";
// An element holding text (never HTML: names and reasons come from users and models).
const text = (tag, value, cls) => { const e = document.createElement(tag); e.textContent = value; if (cls) e.className = cls; return e; };

// Shared by every console page: reads the page's data with the session cookie every few seconds and hands it to the
// page's render function; a lapsed session goes back to sign-in, a failure shows in the header and is retried.
function consolePoll(url, render, everyMs) {
  async function refresh() {
    try {
      const response = await fetch(url, { credentials: "same-origin" });
      if (response.status === 401 || response.status === 403) {
        location.href = "/signin?ReturnUrl=" + encodeURIComponent(location.pathname);
        return;
      }
      if (!response.ok) throw new Error(`${url} answered ${response.status}`);
      render(await response.json());
      document.getElementById("error").textContent = "";
      document.getElementById("status").textContent = "updated " + new Date().toLocaleTimeString();
    } catch (e) {
      document.getElementById("error").textContent = String(e.message || e);
    }
  }
  refresh();
  setInterval(refresh, everyMs);
  return refresh;
}

// Changes (POST) carry the session cookie and the console's antiforgery token; fetched once per page.
let consoleToken = null;
async function consolePost(url, body) {
  consoleToken ??= await (await fetch("/console/api/antiforgery", { credentials: "same-origin" })).json();
  const headers = { [consoleToken.headerName]: consoleToken.token };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(url, { method: "POST", credentials: "same-origin", headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    document.getElementById("error").textContent = `${answer.error ?? answer.detail ?? answer.title ?? response.status}`;
    return null;
  }
  return answer;
}
