// What both client suites share: the server under test, tokens, a second server.
import { execFileSync, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { createInterface } from "node:readline";

export const BIN = process.env.CLOUDPC_PARTNERS_BIN;
export const BASE = process.env.CLOUDPC_PARTNERS_URL;
export const DATA_DIR = process.env.CLOUDPC_PARTNERS_DATA_DIR;
export const HOST = new URL(BASE).hostname;
export const SET = "/deviceManagement/virtualEndpoint/externalPartners";

/** A local token for `tenant`, from the server's own `token` command. */
export function token(tenant, { scopes = "CloudPC.ReadWrite.All", app = false, appId } = {}) {
  const args = ["token", "--data-dir", DATA_DIR, "--tenant", tenant, "--scopes", scopes];
  if (app) args.push("--app");
  if (appId) args.push("--app-id", appId);
  return execFileSync(BIN, args, { encoding: "utf8" }).trim();
}

/** A fresh tenant: every test works in its own, so tests never see each other's records. */
export const newTenant = () => randomUUID();

/**
 * Another server on the same data dir (same key and CA), with extra flags. On the
 * embedded database it keeps its records in a throwaway database of its own: one
 * process owns an SQLite file, and the first server holds the data dir's.
 */
export async function startServer(extra) {
  const args = ["serve", "--listen", "127.0.0.1:0", "--data-dir", DATA_DIR, "--tls-dev", ...extra];
  if (process.env.CLOUDPC_PARTNERS_DATABASE) args.push("--database", process.env.CLOUDPC_PARTNERS_DATABASE);
  else args.push("--in-memory");
  const env = { ...process.env, RUST_LOG: "warn" };
  delete env.DATABASE_URL;
  const proc = spawn(BIN, args, { env, stdio: ["ignore", "pipe", "inherit"] });
  const line = await new Promise((resolve) => createInterface({ input: proc.stdout }).once("line", resolve));
  return {
    base: line.replace("listening on ", "").trim(),
    stop: () => new Promise((resolve) => { proc.once("exit", resolve); proc.kill("SIGTERM"); }),
  };
}
