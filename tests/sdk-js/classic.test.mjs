// The classic JavaScript client, @microsoft/microsoft-graph-client 3.0.7, used as its
// README shows, against cloudpc-partners over HTTPS (customHosts names this server).
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import {
  BatchRequestContent,
  BatchResponseContent,
  Client,
  GraphError,
  PageIterator,
} from "@microsoft/microsoft-graph-client";
import { TokenCredentialAuthenticationProvider } from "@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials/index.js";
import { ClientSecretCredential } from "@azure/identity";
import { BASE, HOST, SET, newTenant, startServer, token } from "./support.mjs";

function client(tok, base = BASE) {
  return Client.init({
    authProvider: (done) => done(null, tok),
    baseUrl: `${base}/`,
    defaultVersion: "beta",
    customHosts: new Set([HOST]),
  });
}

async function seed(c, n, enabled = () => true) {
  const made = [];
  for (let i = 0; i < n; i++) {
    made.push(await c.api(SET).post({ partnerId: randomUUID(), enableConnection: enabled(i) }));
  }
  return made;
}

test("create, get, update and delete through .api()", async () => {
  const c = client(token(newTenant()));
  const partnerId = randomUUID();
  const created = await c.api(SET).post({
    "@odata.type": "#microsoft.graph.cloudPcExternalPartner",
    partnerId,
    enableConnection: true,
  });
  assert.equal(created.partnerId, partnerId);
  assert.equal(created.connectionStatus, "available");
  const got = await c.api(`${SET}/${created.id}`).get();
  assert.equal(got.id, created.id);
  const patched = await c.api(`${SET}/${created.id}`).patch({ enableConnection: false });
  assert.equal(patched.connectionStatus, "notAvailable");
  await c.api(`${SET}/${created.id}`).delete();
  await assert.rejects(c.api(`${SET}/${created.id}`).get(), (e) => e instanceof GraphError && e.statusCode === 404);
});

test("top, filter, select, count and orderby build one query; top is the page size", async () => {
  const c = client(token(newTenant()));
  await seed(c, 7, (i) => i % 2 === 0);
  const page = await c
    .api(SET)
    .top(3)
    .filter("enableConnection eq true")
    .select(["id", "partnerId"])
    .count(true)
    .orderby("partnerId desc")
    .get();
  assert.equal(page["@odata.count"], 4);
  assert.equal(page.value.length, 3);
  assert.ok(page.value.every((p) => p.partnerId && p.enableConnection === undefined));
  assert.ok(page["@odata.nextLink"].startsWith("https://"), page["@odata.nextLink"]);
  const count = await c.api(`${SET}/$count`).get();
  assert.equal(Number(count), 7);
});

test("PageIterator visits every record across pages", async () => {
  const c = client(token(newTenant()));
  const made = await seed(c, 12);
  const first = await c.api(SET).top(5).get();
  const seen = [];
  const it = new PageIterator(c, first, (p) => {
    seen.push(p.id);
    return true;
  });
  await it.iterate();
  assert.deepEqual(seen.sort(), made.map((p) => p.id).sort());
});

test("GraphError carries the status and Graph's error code", async () => {
  const c = client(token(newTenant()));
  await assert.rejects(c.api(`${SET}/${randomUUID()}`).get(), (e) => {
    assert.ok(e instanceof GraphError);
    assert.equal(e.statusCode, 404);
    assert.equal(e.code, "ResourceNotFound");
    assert.ok(e.requestId);
    return true;
  });
  await assert.rejects(c.api(SET).post({ partnerId: "nope", enableConnection: true }), (e) => {
    assert.equal(e.statusCode, 400);
    assert.equal(e.code, "BadRequest");
    assert.match(e.message, /partnerId/);
    return true;
  });
  const reader = client(token(newTenant(), { scopes: "CloudPC.Read.All" }));
  await assert.rejects(reader.api(SET).post({ partnerId: randomUUID(), enableConnection: true }), (e) => {
    assert.equal(e.statusCode, 403);
    assert.equal(e.code, "Authorization_RequestDenied");
    return true;
  });
});

test("BatchRequestContent and BatchResponseContent round-trip a batch", async () => {
  const c = client(token(newTenant()));
  const [existing] = await seed(c, 1);
  const url = (path) => `${BASE}/beta${path}`;
  const batch = new BatchRequestContent([
    {
      id: "1",
      request: new Request(url(SET), {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ partnerId: randomUUID(), enableConnection: false }),
      }),
    },
    { id: "2", request: new Request(url(`${SET}/${existing.id}`), { method: "GET" }) },
    { id: "3", request: new Request(url(`${SET}/${randomUUID()}`), { method: "GET" }) },
  ]);
  const raw = await c.api("/$batch").post(await batch.getContent());
  const answers = new BatchResponseContent(raw);
  const created = answers.getResponseById("1");
  assert.equal(created.status, 201);
  assert.match(created.headers.get("Content-Type"), /^application\/json/);
  assert.equal((await created.json()).enableConnection, false);
  const got = answers.getResponseById("2");
  assert.equal(got.status, 200);
  assert.equal((await got.json()).id, existing.id);
  const missing = answers.getResponseById("3");
  assert.equal(missing.status, 404);
  assert.equal((await missing.json()).error.code, "ResourceNotFound");
  assert.equal(Number(await c.api(`${SET}/$count`).get()), 2);
});

test("a 429 is retried after Retry-After by the client's retry handler", async () => {
  const tight = await startServer(["--throttle-requests", "2", "--throttle-window", "2s"]);
  try {
    const tenant = newTenant();
    const tok = token(tenant);
    // Spend the budget directly, then see the next call refused...
    for (let i = 0; i < 2; i++) assert.equal((await fetch(`${tight.base}/beta${SET}`, { headers: { Authorization: `Bearer ${tok}` } })).status, 200);
    const refused = await fetch(`${tight.base}/beta${SET}`, { headers: { Authorization: `Bearer ${tok}` } });
    assert.equal(refused.status, 429);
    assert.ok(Number(refused.headers.get("Retry-After")) >= 1);
    // ...while the client, refused the same way, waits and succeeds.
    const page = await client(tok, tight.base).api(SET).get();
    assert.deepEqual(page.value, []);
  } finally {
    await tight.stop();
  }
});

test("an app authenticates the normal way: ClientSecretCredential against the token endpoint", async () => {
  // Only the authority and the Graph base URL differ from what runs against Graph;
  // instance discovery would ask login.microsoftonline.com about this authority.
  const tenant = newTenant();
  const credential = new ClientSecretCredential(tenant, "my-admin-tool", "not-a-real-secret", {
    authorityHost: BASE,
    disableInstanceDiscovery: true,
  });
  const authProvider = new TokenCredentialAuthenticationProvider(credential, {
    scopes: ["https://graph.microsoft.com/.default"],
  });
  const c = Client.initWithMiddleware({
    authProvider,
    baseUrl: `${BASE}/`,
    defaultVersion: "beta",
    customHosts: new Set([HOST]),
  });
  const created = await c.api(SET).post({ partnerId: randomUUID(), enableConnection: true });
  const listed = await c.api(SET).get();
  assert.deepEqual(listed.value.map((p) => p.id), [created.id]);

  // A refused token request surfaces as azure-identity's own error.
  const refused = new ClientSecretCredential("not-a-tenant-guid", "my-admin-tool", "secret", {
    authorityHost: BASE,
    disableInstanceDiscovery: true,
  });
  await assert.rejects(refused.getToken("https://graph.microsoft.com/.default"), (e) => {
    assert.match(e.name, /AuthenticationError|CredentialUnavailableError/);
    return true;
  });
});
