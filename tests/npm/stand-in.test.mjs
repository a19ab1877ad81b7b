// The npm package as a user gets it: this file runs in an empty project that has only
// the packed cloudpc-partners tarballs and Microsoft's JavaScript Graph client, with
// node:test. No path to the repository or its binary.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { Agent, setGlobalDispatcher } from "undici";
import { readFileSync } from "node:fs";
import { Client } from "@microsoft/microsoft-graph-client";
import { startStandIn, binaryPath } from "cloudpc-partners";

let graph;

before(async () => {
  graph = await startStandIn();
  // The Graph client calls fetch: trust the stand-in's development CA there.
  setGlobalDispatcher(new Agent({ connect: { ca: readFileSync(graph.caFile) } }));
});

after(async () => {
  await graph?.stop();
});

test("npx runs the binary of this platform", () => {
  const version = execFileSync("npx", ["--no-install", "cloudpc-partners", "--version"], { encoding: "utf8" });
  assert.match(version, /^cloudpc-partners /);
  assert.match(binaryPath(), /@cloudpc-partners\/linux-x64\/bin\/cloudpc-partners$/);
});

test("the classic Graph client creates, lists and pages connections", async () => {
  const tenant = randomUUID();
  const token = graph.token(tenant, { app: true });
  const client = Client.init({
    authProvider: (done) => done(null, token),
    baseUrl: `${graph.origin}/`,
    defaultVersion: "beta",
    customHosts: new Set([new URL(graph.origin).hostname]),
  });
  const set = "/deviceManagement/virtualEndpoint/externalPartners";
  const created = [];
  for (let i = 0; i < 5; i++) {
    created.push(await client.api(set).post({ partnerId: randomUUID(), enableConnection: true }));
  }
  const seen = [];
  let page = await client.api(set).top(2).get();
  let pages = 0;
  while (page) {
    pages += 1;
    seen.push(...page.value.map((p) => p.id));
    page = page["@odata.nextLink"] ? await client.api(page["@odata.nextLink"]).get() : null;
  }
  assert.equal(pages, 3);
  assert.deepEqual(seen.sort(), created.map((c) => c.id).sort());
});

test("each tenant sees only its own connections, and the dev API helpers work", async () => {
  const [a, b] = [randomUUID(), randomUUID()];
  const ids = await graph.dev.seed(a, [{ partnerId: randomUUID(), status: "healthy" }]);
  const listedA = await graph.call("GET", "/beta/deviceManagement/virtualEndpoint/externalPartners", a);
  const listedB = await graph.call("GET", "/beta/deviceManagement/virtualEndpoint/externalPartners", b);
  assert.deepEqual(listedA.value.map((p) => p.id), ids);
  assert.deepEqual(listedB.value, []);
  assert.equal(await graph.dev.reset(a), 1);
  assert.equal(graph.env.HTTPS_PROXY, `http://${graph.proxy}`);
});
