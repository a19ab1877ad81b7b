// The status page: a small client of the service's own APIs. Everything it shows
// comes from an authorized call with the token the person gave; nothing is shown
// without one, and a refused token clears the screen.
"use strict";

const SET = "/beta/deviceManagement/virtualEndpoint/externalPartners";
const POLL_MS = 2000;
const dev = document.body.dataset.dev === "true";
const $ = (id) => document.getElementById(id);

let token = sessionStorage.getItem("cloudpc-partners-token");
let timer = null;
let shownDeployments = null; // the connection whose deployments are open

class ApiError extends Error {
  constructor(status, code, message) {
    super(`${status} ${code}: ${message}`);
    this.status = status;
  }
}

async function api(method, path, body) {
  // The page's own calls are control traffic: never faulted, and left out of the
  // journal unless it is asked for them.
  const headers = { Authorization: `Bearer ${token}`, "X-CloudPC-Partners-Client": "status-page" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const type = res.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await res.json() : await res.text();
  if (!res.ok) {
    const e = (data && data.error) || {};
    throw new ApiError(res.status, e.code || res.statusText, e.message || "");
  }
  return data;
}

function say(text, kind) {
  const m = $("message");
  m.textContent = text || "";
  m.className = kind || "";
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function when(iso) {
  if (!iso) return "never";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toISOString().replace(".000Z", "Z");
}

// The token's claims, read only to tell the person whose token it is; the service
// checks the signature on every call.
function claims(t) {
  try {
    const part = t.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
  } catch {
    return null;
  }
}

function clearTenant() {
  $("tenant").hidden = true;
  $("dev").hidden = true;
  $("connections").querySelector("tbody").replaceChildren();
  $("deployments").hidden = true;
  $("deployments").querySelector("tbody").replaceChildren();
  $("journal").querySelector("tbody").replaceChildren();
  $("summary").textContent = "";
  $("who").hidden = true;
  $("sign-out").hidden = true;
  shownDeployments = null;
}

function signOut(why) {
  token = null;
  sessionStorage.removeItem("cloudpc-partners-token");
  if (timer) clearInterval(timer);
  timer = null;
  clearTenant();
  say(why || "", why ? "error" : "");
}

function signIn(t) {
  token = t.trim();
  if (!token) return say("Paste a token first.", "error");
  const c = claims(token);
  if (!c) return signOut("That is not a token: a token is three base64url parts joined by dots.");
  sessionStorage.setItem("cloudpc-partners-token", token);
  const grants = c.scp || (c.roles || []).join(" ");
  const who = $("who");
  who.textContent = `Tenant ${c.tid || "?"} · ${grants || "no permissions"}${c.exp ? ` · expires ${when(new Date(c.exp * 1000).toISOString())}` : ""}`;
  say("");
  refresh(true);
  if (timer) clearInterval(timer);
  timer = setInterval(() => refresh(false), POLL_MS);
}

async function allConnections() {
  let page = await api("GET", `${SET}?$count=true&$top=200`);
  const items = [...page.value];
  while (page["@odata.nextLink"] && items.length < 2000) {
    const next = new URL(page["@odata.nextLink"]);
    page = await api("GET", next.pathname + next.search);
    items.push(...page.value);
  }
  return items;
}

function statusBadge(status) {
  return el("span", status, `badge ${status}`);
}

function agentText(setting) {
  if (!setting) return "not configured";
  const parts = [setting.agentUrl || "no agent URL"];
  if (setting.autoDeploymentEnabled) parts.push("auto-deploys");
  return parts.join(" · ");
}

function renderConnections(items) {
  const body = $("connections").querySelector("tbody");
  const rows = items.map((c) => {
    const tr = el("tr");
    tr.dataset.id = c.id;
    tr.dataset.partnerId = c.partnerId;
    tr.dataset.status = c.connectionStatus;
    const partner = el("td");
    partner.append(el("code", c.partnerId), el("div", `id ${c.id}`, "sub"));
    const status = el("td");
    status.append(statusBadge(c.connectionStatus));
    const actions = el("td", null, "actions");
    const toggle = el("button", c.enableConnection ? "Disable" : "Enable");
    toggle.type = "button";
    toggle.className = c.enableConnection ? "disable" : "enable";
    toggle.addEventListener("click", () => setEnabled(c.id, !c.enableConnection, toggle));
    const deployments = el("button", "Deployments", "secondary");
    deployments.type = "button";
    deployments.addEventListener("click", () => showDeployments(c.id));
    actions.append(toggle, deployments);
    tr.append(partner, status, el("td", c.statusDetails || ""), el("td", when(c.lastSyncDateTime)), el("td", agentText(c.agentSetting)), actions);
    return tr;
  });
  body.replaceChildren(...rows);
  $("empty").hidden = items.length > 0;
  const counts = {};
  for (const c of items) counts[c.connectionStatus] = (counts[c.connectionStatus] || 0) + 1;
  $("summary").textContent = items.length === 0 ? "" :
    `${items.length} connection${items.length === 1 ? "" : "s"}: ` +
    ["healthy", "unhealthy", "available", "notAvailable"].filter((s) => counts[s]).map((s) => `${counts[s]} ${s}`).join(", ");
}

async function setEnabled(id, enable, button) {
  button.disabled = true;
  try {
    await api("PATCH", `${SET}/${id}`, { enableConnection: enable });
    say(`Connection ${enable ? "enabled" : "disabled"}.`, "ok");
  } catch (e) {
    failed(e);
  }
  await refresh(false);
}

async function showDeployments(id) {
  shownDeployments = id;
  await renderDeployments();
}

async function renderDeployments() {
  const section = $("deployments");
  if (!shownDeployments) return;
  const rows = await api("GET", `${SET}/${shownDeployments}/retrieveDeployAgentActionResults()`);
  const body = section.querySelector("tbody");
  body.replaceChildren(...rows.value.map((r) => {
    const tr = el("tr");
    tr.append(el("td", r.activityId), el("td", r.cloudPcId), el("td", r.state), el("td", when(r.startDateTime)),
      el("td", when(r.lastModifiedDateTime)), el("td", r.errorCode === "none" ? "" : `${r.errorCode}${r.errorMessage ? `: ${r.errorMessage}` : ""}`));
    return tr;
  }));
  section.querySelector(".none").hidden = rows.value.length > 0;
  section.querySelector("h3").textContent = `Agent deployments of ${shownDeployments}`;
  section.hidden = false;
}

// The controls take an admin token; with a read-only one the connections stay shown
// and the controls are disabled, with the reason.
function devRefused(e) {
  const note = $("dev-refused");
  note.textContent = `The stand-in controls are disabled: they need a token with CloudPC.ReadWrite.All, and the service refused this one (${e.message}).`;
  note.hidden = false;
  for (const c of $("dev").querySelectorAll("input, select, button")) c.disabled = true;
  $("dev").hidden = false;
}

async function renderDev() {
  let clock, faults, journal;
  try {
    [clock, faults, journal] = await Promise.all([
      api("GET", "/dev/v1/clock"),
      api("GET", "/dev/v1/faults"),
      api("GET", `/dev/v1/journal?top=15${journalPath()}`),
    ]);
  } catch (e) {
    if (e instanceof ApiError && e.status === 403) return devRefused(e);
    throw e;
  }
  $("dev-refused").hidden = true;
  for (const c of $("dev").querySelectorAll("input, select, button")) c.disabled = false;
  $("clock-now").textContent = when(clock.now);
  $("clock-offset").textContent = clock.offsetSeconds ? `(${clock.offsetSeconds > 0 ? "+" : ""}${clock.offsetSeconds}s from real time)` : "(real time)";
  const inForce = [];
  if (faults.faults) inForce.push(`this tenant's: ${JSON.stringify(faults.faults)}`);
  if (faults.startFaults) inForce.push(`everyone's, from the start flag: ${JSON.stringify(faults.startFaults)}`);
  $("faults-now").textContent = inForce.length ? inForce.join("; ") : "none";
  const body = $("journal").querySelector("tbody");
  body.replaceChildren(...journal.value.slice().reverse().map((e) => {
    const tr = el("tr");
    tr.append(el("td", e.sequence), el("td", when(e.time)), el("td", e.method),
      el("td", (e.host || "") + (e.viaProxy ? " (proxy)" : "")), el("td", e.path + (e.query ? `?${e.query}` : "")),
      el("td", e.dropped ? "dropped" : e.status), el("td", e.durationMs));
    return tr;
  }));
  $("dev").hidden = false;
}

function journalPath() {
  const p = $("journal-path").value;
  return p ? `&path=${encodeURIComponent(p)}` : "";
}

function failed(e) {
  if (e instanceof ApiError && e.status === 401) {
    signOut(`The service refused the token: ${e.message}`);
  } else if (e instanceof ApiError && e.status === 403) {
    clearTenant();
    say(`The token may not read this tenant's connections: ${e.message}`, "error");
  } else {
    say(String(e.message || e), "error");
  }
}

let refreshing = false;
async function refresh(first) {
  if (!token || refreshing) return;
  refreshing = true;
  try {
    const items = await allConnections();
    if (!token) return;
    renderConnections(items);
    $("tenant").hidden = false;
    $("who").hidden = false;
    $("sign-out").hidden = false;
    $("live").textContent = `live · updated ${new Date().toLocaleTimeString()}`;
    if (shownDeployments) await renderDeployments();
    if (dev) await renderDev();
    if (first) say("");
  } catch (e) {
    failed(e);
  } finally {
    refreshing = false;
  }
}

async function devAction(run, done) {
  try {
    await run();
    say(done, "ok");
  } catch (e) {
    failed(e);
  }
  await refresh(false);
}

function wire() {
  $("mode").textContent = dev ? "dev mode" : "";
  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    signIn($("token-input").value);
    $("token-input").value = "";
  });
  $("sign-out").addEventListener("click", () => signOut());
  if (dev) {
    $("dev-token-form").hidden = false;
    $("dev-token-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const tenant = $("tenant-input").value.trim();
      const form = new URLSearchParams({
        grant_type: "client_credentials",
        client_id: "cloudpc-partners-status-page",
        client_secret: "dev",
        scope: "https://graph.microsoft.com/.default",
      });
      const res = await fetch(`/${encodeURIComponent(tenant)}/oauth2/v2.0/token`, { method: "POST", body: form });
      const data = await res.json().catch(() => ({}));
      if (!res.ok) return signOut(`No token: ${data.error_description || res.status}`);
      signIn(data.access_token);
    });
    $("clock-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const by = $("clock-advance").value.trim();
      devAction(() => api("POST", "/dev/v1/clock", { advance: by }), `Clock advanced by ${by}.`);
    });
    $("clock-reset").addEventListener("click", () =>
      devAction(() => api("POST", "/dev/v1/clock", { reset: true }), "Clock back to real time."));
    $("faults-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const errors = $("faults-errors").value.split(/[ ,]+/).filter(Boolean).map(Number);
      const settings = { scope: $("faults-scope").value, errorRate: Number($("faults-rate").value), errors };
      devAction(() => api("POST", "/dev/v1/faults", settings), "Faults on.");
    });
    $("faults-clear").addEventListener("click", () =>
      devAction(() => api("DELETE", "/dev/v1/faults"), "Faults off."));
    $("journal-clear").addEventListener("click", () =>
      devAction(() => api("DELETE", `/dev/v1/journal?${journalPath().slice(1)}`), "Journal cleared."));
    $("journal-path").addEventListener("change", () => refresh(false));
  }
  if (token) signIn(token);
}

wire();
