// The status page in Debian's Chromium, as a new user meets it: against the real
// binary in dev mode, seeded with one tenant's connections in all four states and a
// second tenant that must never show through.
//
// CLOUDPC_PARTNERS_BIN names the binary; CHROMIUM the browser (default
// /usr/bin/chromium); SCREENSHOT, if set, where to save a picture of the page.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const BIN = process.env.CLOUDPC_PARTNERS_BIN;
// Fresh tenants each run, so a shared database never holds this run's seed already.
const TENANT = randomUUID();
const OTHER_TENANT = randomUUID();
const P = {
  notAvailable: "a1000000-0000-4000-8000-000000000001",
  available: "a1000000-0000-4000-8000-000000000002",
  healthy: "a1000000-0000-4000-8000-000000000003",
  unhealthy: "a1000000-0000-4000-8000-000000000004",
};
const SECRET_PARTNER = "b2000000-0000-4000-8000-000000000009";
const SET = "/beta/deviceManagement/virtualEndpoint/externalPartners";

let dir, server, base, browser;

function token(tenant, ...extra) {
  return execFileSync(BIN, ["token", "--data-dir", dir, "--tenant", tenant, ...extra], { encoding: "utf8" }).trim();
}

async function call(method, path, tok, body) {
  const res = await fetch(base + path, {
    method,
    headers: { Authorization: `Bearer ${tok}`, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "cloudpc-partners-browser-"));
  const seed = join(dir, "seed.json");
  writeFileSync(seed, JSON.stringify({
    tenants: [
      {
        id: TENANT,
        connections: [
          { partnerId: P.notAvailable, status: "notAvailable" },
          { partnerId: P.available, status: "available" },
          { partnerId: P.healthy, status: "healthy", lastSync: "-10m" },
          { partnerId: P.unhealthy, status: "unhealthy", lastSync: "-2h" },
        ],
      },
      { id: OTHER_TENANT, connections: [{ partnerId: SECRET_PARTNER, status: "healthy" }] },
    ],
  }));
  const args = ["serve", "--dev", "--listen", "127.0.0.1:0", "--data-dir", dir, "--seed", seed];
  if (process.env.CLOUDPC_PARTNERS_DATABASE) args.push("--database", process.env.CLOUDPC_PARTNERS_DATABASE);
  // The database this run names, never one inherited from DATABASE_URL.
  const env = { ...process.env, RUST_LOG: "warn" };
  delete env.DATABASE_URL;
  server = spawn(BIN, args, { env, stdio: ["ignore", "pipe", "inherit"] });
  const line = await new Promise((resolve) => createInterface({ input: server.stdout }).once("line", resolve));
  base = line.replace("listening on ", "").trim();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    // This machine's network is closed: Chromium must not try to reach Google.
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  if (server) {
    await new Promise((resolve) => { server.once("exit", resolve); server.kill("SIGTERM"); });
  }
  rmSync(dir, { recursive: true, force: true });
});

async function openPage() {
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(base + "/");
  return { page, errors, close: () => context.close() };
}

const row = (page, partnerId) => page.locator(`#connections tr[data-partner-id="${partnerId}"]`);

async function signInWithDevToken(page, tenant) {
  await page.fill("#tenant-input", tenant);
  await page.click("#dev-token-form button");
  await page.locator("#connections tbody tr").first().waitFor();
}

test("without a valid token the page shows nothing of any tenant", async () => {
  const { page, errors, close } = await openPage();
  try {
    assert.equal(await page.locator("#tenant").isHidden(), true);
    assert.equal(await page.locator("#connections tbody tr").count(), 0);

    // Not a token at all.
    await page.fill("#token-input", "not-a-token");
    await page.click("#token-form button");
    await page.locator("#message.error").waitFor();
    assert.equal(await page.locator("#connections tbody tr").count(), 0);

    // Well formed, but signed by another installation's key.
    const otherDir = mkdtempSync(join(tmpdir(), "cloudpc-partners-other-"));
    const forged = execFileSync(BIN, ["token", "--data-dir", otherDir, "--tenant", TENANT], { encoding: "utf8" }).trim();
    rmSync(otherDir, { recursive: true, force: true });
    await page.fill("#token-input", forged);
    await page.click("#token-form button");
    await page.waitForFunction(() => document.querySelector("#message").textContent.includes("refused"));
    assert.equal(await page.locator("#tenant").isHidden(), true);
    assert.equal(await page.locator("#connections tbody tr").count(), 0);
    assert.ok(!(await page.content()).includes(P.healthy), "no partner of the tenant in the page");
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});

test("a tenant's token shows that tenant only", async () => {
  const { page, close } = await openPage();
  try {
    await page.fill("#token-input", token(OTHER_TENANT));
    await page.click("#token-form button");
    await row(page, SECRET_PARTNER).waitFor();
    assert.equal(await page.locator("#connections tbody tr").count(), 1);
    for (const p of Object.values(P)) assert.equal(await row(page, p).count(), 0);
  } finally {
    await close();
  }
});

test("a seeded tenant's connections show in all four states", async () => {
  const { page, errors, close } = await openPage();
  try {
    await signInWithDevToken(page, TENANT);
    for (const [status, partnerId] of Object.entries(P)) {
      const r = row(page, partnerId);
      assert.equal(await r.getAttribute("data-status"), status, partnerId);
      assert.equal(await r.locator(".badge").textContent(), status);
    }
    assert.match(await row(page, P.unhealthy).textContent(), /No heartbeat since/);
    assert.match(await row(page, P.healthy).textContent(), /last heartbeat at/);
    assert.match(await page.locator("#summary").textContent(), /4 connections/);
    assert.equal(await row(page, SECRET_PARTNER).count(), 0, "another tenant's partner never shows");
    assert.deepEqual(errors, []);
    if (process.env.SCREENSHOT) {
      await page.locator("#journal").waitFor();
      await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
    }
  } finally {
    await close();
  }
});

test("a heartbeat turns an unhealthy connection healthy, live", async () => {
  const { page, close } = await openPage();
  try {
    await signInWithDevToken(page, TENANT);
    const r = row(page, P.unhealthy);
    assert.equal(await r.getAttribute("data-status"), "unhealthy");
    const beat = await call("POST", "/partner/v1/heartbeat", token(TENANT, "--partner", P.unhealthy));
    assert.equal(beat.status, 204);
    // No reload: the page polls on its own.
    await page.waitForSelector(`#connections tr[data-partner-id="${P.unhealthy}"][data-status="healthy"]`, { timeout: 10000 });
    assert.equal(await r.locator(".badge").textContent(), "healthy");
  } finally {
    await close();
  }
});

test("disable and enable buttons change the connection", async () => {
  const { page, close } = await openPage();
  try {
    await signInWithDevToken(page, TENANT);
    const r = row(page, P.healthy);
    await r.locator("button.disable").click();
    await page.waitForSelector(`#connections tr[data-partner-id="${P.healthy}"][data-status="notAvailable"]`);
    const id = await r.getAttribute("data-id");
    const admin = token(TENANT);
    assert.equal((await call("GET", `${SET}/${id}`, admin)).body.enableConnection, false);

    await r.locator("button.enable").click();
    await page.waitForSelector(`#connections tr[data-partner-id="${P.healthy}"][data-status="available"]`);
    assert.equal((await call("GET", `${SET}/${id}`, admin)).body.enableConnection, true);
  } finally {
    await close();
  }
});

test("agent settings and deployments show once they exist", async () => {
  const admin = token(TENANT);
  const list = await call("GET", `${SET}?$filter=partnerId eq '${P.available}'`, admin);
  const id = list.body.value[0].id;
  const configured = await call("POST", `${SET}/${id}/configureAgent`, admin, {
    agentSetting: { agentUrl: "https://partner.example/agent.msi", agentSha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", installParameters: ["/quiet"], autoDeploymentEnabled: true },
  });
  assert.equal(configured.status, 204);
  const cloudPc = "c3000000-0000-4000-8000-000000000001";
  const deployed = await call("POST", `${SET}/${id}/deployAgent`, admin, { cloudPcIds: [cloudPc] });
  assert.equal(deployed.status, 200);

  const { page, close } = await openPage();
  try {
    await signInWithDevToken(page, TENANT);
    const r = row(page, P.available);
    assert.match(await r.textContent(), /partner\.example\/agent\.msi · auto-deploys/);
    await r.locator("button", { hasText: "Deployments" }).click();
    await page.locator("#deployments tbody tr").first().waitFor();
    const text = await page.locator("#deployments").textContent();
    assert.ok(text.includes(deployed.body.value), "the activity id");
    assert.ok(text.includes(cloudPc));
  } finally {
    await close();
  }
});

test("dev panels: the journal, the clock and the fault switches", async () => {
  const { page, close } = await openPage();
  try {
    await signInWithDevToken(page, TENANT);
    await page.locator("#dev").waitFor();

    // The journal shows partner calls as they arrive.
    const beat = await call("POST", "/partner/v1/heartbeat", token(TENANT, "--partner", P.healthy));
    assert.equal(beat.status, 204);
    await page.waitForFunction(() => [...document.querySelectorAll("#journal tbody td")].some((td) => td.textContent === "/partner/v1/heartbeat"));

    // The clock moves, and health follows it: a day on, heartbeats are old.
    await page.fill("#clock-advance", "1d");
    await page.click("#clock-form button[type=submit]");
    await page.waitForFunction(() => document.querySelector("#clock-offset").textContent.includes("+86400"));
    await page.waitForSelector(`#connections tr[data-partner-id="${P.healthy}"][data-status="unhealthy"]`);
    await page.click("#clock-reset");
    await page.waitForFunction(() => document.querySelector("#clock-offset").textContent === "(real time)");

    // Faults: on for the partner API, as the page shows and a partner feels; then off.
    await page.selectOption("#faults-scope", "partner");
    await page.fill("#faults-rate", "1");
    await page.fill("#faults-errors", "503");
    await page.click("#faults-form button[type=submit]");
    await page.waitForFunction(() => document.querySelector("#faults-now").textContent.includes("\"errorRate\":1"));
    const faulted = await call("POST", "/partner/v1/heartbeat", token(TENANT, "--partner", P.healthy));
    assert.equal(faulted.status, 503);
    await page.click("#faults-clear");
    await page.waitForFunction(() => document.querySelector("#faults-now").textContent === "none");
    assert.equal((await call("POST", "/partner/v1/heartbeat", token(TENANT, "--partner", P.healthy))).status, 204);

  } finally {
    await close();
  }
});

test("a read-only token in dev mode sees its connections, with the controls disabled and why", async () => {
  const { page, errors, close } = await openPage();
  try {
    await page.fill("#token-input", token(TENANT, "--scopes", "CloudPC.Read.All"));
    await page.click("#token-form button");
    await row(page, P.healthy).waitFor();
    await page.locator("#dev-refused").waitFor();
    assert.match(await page.locator("#dev-refused").textContent(), /CloudPC\.ReadWrite\.All/);
    assert.equal(await page.locator("#faults-form button[type=submit]").isDisabled(), true);
    assert.equal(await page.locator("#connections tbody tr").count(), 4);
    assert.equal(await page.locator("#message.error").count(), 0);
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});

test("faults set from the page never stop the page: after a reload it still shows and stops them", async () => {
  const { page, close } = await openPage();
  try {
    await signInWithDevToken(page, TENANT);
    await page.locator("#dev").waitFor();
    await page.selectOption("#faults-scope", "graph");
    await page.fill("#faults-rate", "1");
    await page.fill("#faults-errors", "500");
    await page.click("#faults-form button[type=submit]");
    await page.waitForFunction(() => document.querySelector("#faults-now").textContent.includes("\"errorRate\":1"));
    // A client of the tenant meets them; the page's own calls do not.
    assert.equal((await call("GET", SET, token(TENANT))).status, 500);
    await page.reload();
    await page.locator("#connections tbody tr").first().waitFor();
    await page.waitForFunction(() => document.querySelector("#faults-now").textContent.includes("\"errorRate\":1"));
    await page.click("#faults-clear");
    await page.waitForFunction(() => document.querySelector("#faults-now").textContent === "none");
    assert.equal((await call("GET", SET, token(TENANT))).status, 200);
    // The page's polls stay out of the journal unless asked for.
    const mine = await call("GET", "/dev/v1/journal?path=/beta/*&top=1000", token(TENANT));
    assert.ok(mine.body.value.every((e) => !e.fromStatusPage), "page polls in the default journal");
    const all = await call("GET", "/dev/v1/journal?path=/beta/*&top=1000&page=true", token(TENANT));
    assert.ok(all.body.value.some((e) => e.fromStatusPage), "page polls with page=true");
  } finally {
    await close();
  }
});

test("the page links the OpenAPI document, which describes every API", async () => {
  const { page, close } = await openPage();
  try {
    const href = await page.locator("a", { hasText: "OpenAPI" }).getAttribute("href");
    assert.equal(href, "/openapi.json");
    const doc = await (await fetch(base + href)).json();
    assert.equal(doc.openapi, "3.1.0");
    for (const path of [SET, "/partner/v1/heartbeat", "/dev/v1/clock"]) assert.ok(doc.paths[path], path);
  } finally {
    await close();
  }
});
