// An unchanged app against cloudpc-partners: apps/partner-admin.mjs holds no stand-in
// address at all. The stand-in runs in dev mode with its intercepting proxy, passing
// nothing through (`--proxy-passthrough false`), so any call the app tried to make to
// another host would fail it. The app's environment is what `cloudpc-partners env`
// prints plus the credential's AZURE_* variables, and Node is started with the
// documented preload (`--import ./use-proxy.mjs`) that routes fetch through the proxy.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { randomUUID } from "node:crypto";
import { createInterface } from "node:readline";
import { BIN } from "./support.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const APP = join(here, "apps", "partner-admin.mjs");
const INHERITED = [
  "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy",
  "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "DATABASE_URL",
];

let server, base, proxy, dataDir, cleanEnv;

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "cloudpc-unchanged-js-"));
  cleanEnv = { ...process.env, RUST_LOG: "warn" };
  for (const name of INHERITED) delete cleanEnv[name];
  // --dev-shared: the test reads the journal across tenants (the token requests').
  const args = ["serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--dev", "--dev-shared",
    "--proxy-listen", "127.0.0.1:0", "--proxy-passthrough", "false", "--shutdown-grace", "1s"];
  if (process.env.CLOUDPC_PARTNERS_DATABASE) args.push("--database", process.env.CLOUDPC_PARTNERS_DATABASE);
  else args.push("--in-memory");
  server = spawn(BIN, args, { env: cleanEnv, stdio: ["ignore", "pipe", "inherit"] });
  const lines = createInterface({ input: server.stdout })[Symbol.asyncIterator]();
  const listening = (await lines.next()).value;
  const proxying = (await lines.next()).value;
  assert.match(listening, /^listening on http:\/\//);
  assert.match(proxying, /^proxying on http:\/\//);
  base = listening.replace("listening on ", "").trim();
  proxy = proxying.replace("proxying on http://", "").trim();
});

after(async () => {
  await new Promise((resolve) => { server.once("exit", resolve); server.kill("SIGTERM"); });
  rmSync(dataDir, { recursive: true, force: true });
});

/** What `cloudpc-partners env` tells a POSIX shell to export. */
function envLines() {
  const out = execFileSync(BIN, ["env", "--data-dir", dataDir, "--proxy", proxy], { encoding: "utf8" });
  const found = {};
  for (const line of out.trim().split("\n")) {
    const m = line.match(/^export ([A-Za-z_]+)='(.*)'$/);
    assert.ok(m, line);
    found[m[1]] = m[2];
  }
  return found;
}

async function journal(tenant) {
  const token = execFileSync(BIN, ["token", "--data-dir", dataDir, "--tenant", tenant], { encoding: "utf8" }).trim();
  const res = await fetch(`${base}/dev/v1/journal?tenant=all&top=1000`, { headers: { Authorization: `Bearer ${token}` } });
  return (await res.json()).value;
}

for (const mode of ["classic", "kiota"]) {
  test(`the ${mode} client runs unchanged with only its environment set`, async () => {
    const source = readFileSync(APP, "utf8");
    for (const setting of ["127.0.0.1", "localhost", "authorityHost", "baseUrl", "customHosts", "disableInstanceDiscovery"]) {
      assert.ok(!source.includes(setting), setting);
    }
    const tenant = randomUUID();
    const env = { ...cleanEnv, ...envLines(), AZURE_TENANT_ID: tenant, AZURE_CLIENT_ID: "partner-admin", AZURE_CLIENT_SECRET: "not-a-secret" };
    const run = await new Promise((resolve) => {
      const child = spawn(process.execPath, ["--no-warnings", "--import", join(here, "use-proxy.mjs"), APP, mode], { env, cwd: here });
      let stdout = "", stderr = "";
      child.stdout.on("data", (d) => { stdout += d; });
      child.stderr.on("data", (d) => { stderr += d; });
      child.once("exit", (code) => resolve({ code, stdout, stderr }));
    });
    assert.equal(run.code, 0, run.stderr.slice(-4000));
    const lines = run.stdout.trim().split("\n");
    assert.equal(lines[0], "created 3");
    assert.equal(lines[1], "listed 3 in 2 pages");
    assert.match(lines[2], / available$/);
    assert.match(lines[3], / notAvailable$/);
    assert.match(lines[4], /^deleted /);

    const entries = await journal(tenant);
    const graph = entries.filter((e) => e.tenantId === tenant);
    assert.ok(graph.length >= 3 + 2 + 3, JSON.stringify(graph));
    assert.ok(graph.every((e) => e.viaProxy && e.host === "graph.microsoft.com"), JSON.stringify(graph));
    const tokens = entries.filter((e) => e.path.includes(tenant) && e.path.includes("/oauth2/"));
    assert.ok(tokens.length > 0 && tokens.every((e) => e.viaProxy && e.host === "login.microsoftonline.com"), JSON.stringify(entries));
  });
}
