// Runs Microsoft's JavaScript Graph clients against the real cloudpc-partners binary.
//
// Starts the server over HTTPS with its development certificate (Graph is https-only,
// and the clients send tokens only to https hosts), then runs the test files in a
// child Node whose NODE_EXTRA_CA_CERTS trusts the development CA, as a user would.
//
//   node run.mjs                 the embedded database
//   node run.mjs postgres://…    PostgreSQL at that URL
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";

const here = dirname(fileURLToPath(import.meta.url));
const bin = process.env.CLOUDPC_PARTNERS_BIN ?? join(here, "../../target/debug/cloudpc-partners");
const database = process.argv[2];
const dataDir = mkdtempSync(join(tmpdir(), "cloudpc-sdk-js-"));

const args = ["serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--tls-dev", "--dev", "--no-throttling"];
if (database) args.push("--database", database);
const env = { ...process.env, RUST_LOG: "warn" };
delete env.DATABASE_URL;
const server = spawn(bin, args, { env, stdio: ["ignore", "pipe", "inherit"] });
const first = await new Promise((resolve, reject) => {
  createInterface({ input: server.stdout }).once("line", resolve);
  server.once("exit", (code) => reject(new Error(`server exited with ${code}`)));
});
const base = first.replace("listening on ", "").trim();
if (!base.startsWith("https://")) throw new Error(`unexpected first line: ${first}`);

const tests = spawn(process.execPath, ["--test", "--test-concurrency=1", join(here, "classic.test.mjs"), join(here, "kiota.test.mjs"), join(here, "unchanged.test.mjs")], {
  stdio: "inherit",
  env: {
    ...env,
    NODE_EXTRA_CA_CERTS: join(dataDir, "tls", "dev-ca.pem"),
    CLOUDPC_PARTNERS_BIN: bin,
    CLOUDPC_PARTNERS_URL: base,
    CLOUDPC_PARTNERS_DATA_DIR: dataDir,
    CLOUDPC_PARTNERS_DATABASE: database ?? "",
  },
});
const code = await new Promise((resolve) => tests.once("exit", resolve));
server.kill("SIGTERM");
await new Promise((resolve) => server.once("exit", resolve));
rmSync(dataDir, { recursive: true, force: true });
process.exit(code ?? 1);
