// startStandIn(): a throwaway cloudpc-partners for a test run, from node:test, Vitest
// or Jest. It runs in dev mode, in memory, over HTTPS with its development CA, with its
// intercepting proxy on (so an unchanged app reaches it as graph.microsoft.com with
// `env` set), on free ports, in a temporary data dir removed by stop().
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { binaryPath } from "./platform.js";

export { binaryPath };

const INHERITED = ["DATABASE_URL", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy",
  "ALL_PROXY", "all_proxy", "CLOUDPC_PARTNERS_DATA_DIR", "CLOUDPC_PARTNERS_LISTEN", "CLOUDPC_PARTNERS_DEV"];

/**
 * Starts a stand-in. Options: `database` (a postgres:// URL instead of memory), `args`
 * (more serve flags).
 */
export async function startStandIn({ database, args = [] } = {}) {
  const bin = binaryPath();
  const dataDir = mkdtempSync(join(tmpdir(), "cloudpc-stand-in-"));
  const serve = ["serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--dev", "--tls-dev",
    "--proxy-listen", "127.0.0.1:0", "--no-throttling", "--shutdown-grace", "2s",
    ...(database ? ["--database", database] : ["--in-memory"]), ...args];
  const env = { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "warn" };
  for (const name of INHERITED) delete env[name];
  const child = spawn(bin, serve, { env, stdio: ["ignore", "pipe", "inherit"] });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const first = await Promise.race([lines.next(), exited.then(() => ({ value: "" }))]);
  const second = first.value ? await lines.next() : { value: "" };
  const listening = first.value ?? "";
  const proxying = second.value ?? "";
  if (!listening.startsWith("listening on ") || !proxying.startsWith("proxying on http://")) {
    child.kill("SIGKILL");
    rmSync(dataDir, { recursive: true, force: true });
    throw new Error(`cloudpc-partners did not start: ${JSON.stringify([listening, proxying])}`);
  }
  const origin = listening.slice("listening on ".length).trim();
  const proxy = proxying.slice("proxying on http://".length).trim();
  const caFile = join(dataDir, "tls", "dev-ca.pem");
  const ca = readFileSync(caFile);

  /** A token for `tenant`: delegated CloudPC.ReadWrite.All by default. */
  const token = (tenant, { app = false, scopes = ["CloudPC.ReadWrite.All"], partner } = {}) => {
    const a = ["token", "--data-dir", dataDir, "--tenant", String(tenant), "--scopes", scopes.join(" ")];
    if (app) a.push("--app");
    if (partner) a.push("--partner", String(partner));
    return execFileSync(bin, a, { encoding: "utf8" }).trim();
  };

  /** Calls the stand-in with an admin token for `tenant`; the JSON answer. */
  const call = (method, path, tenant, body) => new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = request(origin + path, {
      method, ca,
      headers: { Authorization: `Bearer ${token(tenant)}`, "Content-Type": "application/json", ...(data ? { "Content-Length": data.length } : {}) },
    }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString();
        if (res.statusCode >= 400) reject(new Error(`${method} ${path}: ${res.statusCode} ${text}`));
        else resolve(text ? JSON.parse(text) : null);
      });
    });
    req.on("error", reject);
    req.end(data);
  });

  const envLines = execFileSync(bin, ["env", "--data-dir", dataDir, "--proxy", proxy], { encoding: "utf8" });
  const appEnv = Object.fromEntries(envLines.trim().split("\n").map((line) => {
    const [name, value] = line.replace(/^export /, "").split(/=(.*)/s);
    return [name, value.replace(/^'|'$/g, "")];
  }));

  return {
    /** The Graph root, such as https://127.0.0.1:PORT/beta. */
    baseUrl: `${origin}/beta`,
    origin,
    proxy,
    caFile,
    token,
    /** The environment an unchanged app needs (proxy and CA). */
    env: appEnv,
    call,
    dev: {
      seed: async (tenant, connections) => (await call("POST", "/dev/v1/seed", tenant, { connections })).ids,
      reset: async (tenant) => (await call("POST", "/dev/v1/reset", tenant, {})).deleted,
      clock: (tenant, move) => (move ? call("POST", "/dev/v1/clock", tenant, move) : call("GET", "/dev/v1/clock", tenant)),
      faults: (tenant, settings) => (settings ? call("POST", "/dev/v1/faults", tenant, settings) : call("DELETE", "/dev/v1/faults", tenant)),
      journal: async (tenant, top = 100) => (await call("GET", `/dev/v1/journal?top=${top}`, tenant)).value,
    },
    /** Stops the stand-in and removes its data. */
    async stop() {
      child.kill("SIGTERM");
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
