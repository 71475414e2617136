"use strict";
// Every page's header: the title, the pages this session may open (admins: all; a user: their own), status and errors.
const consolePages = [["/console", "Fleet"], ["/console/rollouts", "Rollouts"], ["/console/spend", "Spend"], ["/console/keys", "Keys"],
  ["/console/jobs", "Course jobs"], ["/dashboard", "Orleans dashboard"]];
document.addEventListener("DOMContentLoaded", () => {
  const header = document.querySelector("header[data-nav]");
  if (!header) return;
  const nav = document.createElement("nav");
  for (const [href, label] of header.dataset.nav === "user" ? [["/console/me", "My spend"]] : consolePages) {
    const a = document.createElement("a"); a.href = href; a.textContent = label; nav.append(a);
  }
  const status = document.createElement("span"); status.id = "status"; status.textContent = "loading…";
  const error = document.createElement("span"); error.id = "error"; error.setAttribute("role", "alert");
  const title = document.createElement("h1"); title.textContent = "Orleans.AiFleet console";
  header.replaceChildren(title, nav, status, error);
});
// An element holding text (never HTML: names and reasons come from users and models).
const text = (tag, value, cls) => { const e = document.createElement(tag); e.textContent = value; if (cls) e.className = cls; return e; };
// A table row of the given cells.
const tableRow = (...cells) => { const tr = document.createElement("tr"); tr.append(...cells); return tr; };

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
  const start = () => { refresh(); setInterval(refresh, everyMs); };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start); // after the header (with #status and #error) is built
  } else {
    start();
  }
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
