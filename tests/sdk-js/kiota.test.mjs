// The Kiota-based beta SDK (@microsoft/msgraph-beta-sdk with @microsoft/msgraph-sdk-core)
// against cloudpc-partners over HTTPS: models, ODataError, PageIterator and batching.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import {
  AllowedHostsValidator,
  BaseBearerTokenAuthenticationProvider,
  HttpMethod,
  RequestInformation,
} from "@microsoft/kiota-abstractions";
import { JsonParseNodeFactory, JsonSerializationWriterFactory } from "@microsoft/kiota-serialization-json";
import { TextParseNodeFactory, TextSerializationWriterFactory } from "@microsoft/kiota-serialization-text";
import { BatchRequestContent, PageIterator } from "@microsoft/msgraph-sdk-core";
import { GraphBetaRequestAdapter, createGraphBetaServiceClient } from "@microsoft/msgraph-beta-sdk";
import {
  createCloudPcExternalPartnerCollectionResponseFromDiscriminatorValue,
  createCloudPcExternalPartnerFromDiscriminatorValue,
} from "@microsoft/msgraph-beta-sdk/models/index.js";
import { errorMappings } from "./externalPartners.mjs";
import { BASE, HOST, newTenant, token } from "./support.mjs";

function adapter(tok) {
  const auth = new BaseBearerTokenAuthenticationProvider({
    getAuthorizationToken: async () => tok,
    getAllowedHostsValidator: () => new AllowedHostsValidator(new Set([HOST])),
  });
  const a = new GraphBetaRequestAdapter(auth);
  const parse = a.getParseNodeFactory();
  const write = a.getSerializationWriterFactory();
  parse.registerDefaultDeserializer(JsonParseNodeFactory, a.getBackingStoreFactory());
  parse.registerDefaultDeserializer(TextParseNodeFactory, a.getBackingStoreFactory());
  write.registerDefaultSerializer(JsonSerializationWriterFactory);
  write.registerDefaultSerializer(TextSerializationWriterFactory);
  a.baseUrl = `${BASE}/beta`;
  return a;
}

const partners = (a) => createGraphBetaServiceClient(a).deviceManagement.virtualEndpoint.externalPartners;

test("models round-trip: create, get, patch, delete, count", async () => {
  const set = partners(adapter(token(newTenant())));
  const partnerId = randomUUID();
  const created = await set.post({ partnerId, enableConnection: true });
  assert.equal(created.partnerId, partnerId);
  assert.equal(created.connectionStatus, "available");
  assert.equal(created.lastSyncDateTime, undefined);
  const item = set.byCloudPcExternalPartnerId(created.id);
  const got = await item.get({ queryParameters: { select: ["id", "connectionStatus"] } });
  assert.equal(got.id, created.id);
  assert.equal(got.partnerId, undefined);
  const patched = await item.patch({ enableConnection: false });
  assert.equal(patched.connectionStatus, "notAvailable");
  assert.equal(await set.count.get(), 1);
  await item.delete();
  assert.equal(await set.count.get(), 0);
});

test("get, modify, patch sends the whole object back and succeeds", async () => {
  const set = partners(adapter(token(newTenant())));
  const created = await set.post({ partnerId: randomUUID(), enableConnection: true });
  const item = set.byCloudPcExternalPartnerId(created.id);
  const read = await item.get();
  read.enableConnection = false;
  const patched = await item.patch(read);
  assert.equal(patched.enableConnection, false);
});

test("query parameters: top is the page size, filter, select, count, orderby", async () => {
  const set = partners(adapter(token(newTenant())));
  for (let i = 0; i < 7; i++) await set.post({ partnerId: randomUUID(), enableConnection: i % 2 === 0 });
  const page = await set.get({
    queryParameters: { top: 3, filter: "enableConnection eq true", select: ["id", "partnerId"], count: true, orderby: ["partnerId desc"] },
  });
  assert.equal(page.odataCount, 4);
  assert.equal(page.value.length, 3);
  assert.ok(page.odataNextLink.startsWith("https://"));
  const ids = page.value.map((p) => p.partnerId);
  assert.deepEqual(ids, [...ids].sort().reverse());
});

// Kiota escapes the reserved name: ODataError's `error` property is `errorEscaped`.
test("ODataError carries the status and Graph's error", async () => {
  const set = partners(adapter(token(newTenant())));
  await assert.rejects(set.byCloudPcExternalPartnerId(randomUUID()).get(), (e) => {
    assert.equal(e.responseStatusCode, 404);
    assert.equal(e.errorEscaped?.code, "ResourceNotFound");
    return true;
  });
  await assert.rejects(set.post({ partnerId: "nope", enableConnection: true }), (e) => {
    assert.equal(e.responseStatusCode, 400);
    assert.equal(e.errorEscaped?.code, "BadRequest");
    assert.match(e.errorEscaped?.message ?? "", /partnerId/);
    return true;
  });
  await assert.rejects(set.get({ queryParameters: { expand: ["x"] } }), (e) => e.responseStatusCode === 400);
});

test("PageIterator from msgraph-sdk-core visits every record", async () => {
  const a = adapter(token(newTenant()));
  const set = partners(a);
  const made = [];
  for (let i = 0; i < 12; i++) made.push((await set.post({ partnerId: randomUUID(), enableConnection: true })).id);
  const first = await set.get({ queryParameters: { top: 5 } });
  const seen = [];
  const it = new PageIterator(a, first, (p) => {
    seen.push(p.id);
    return true;
  }, createCloudPcExternalPartnerCollectionResponseFromDiscriminatorValue, errorMappings);
  await it.iterate();
  assert.deepEqual(seen.sort(), made.sort());
});

test("BatchRequestContent from msgraph-sdk-core posts a batch and reads typed answers", async () => {
  const a = adapter(token(newTenant()));
  const set = partners(a);
  const existing = await set.post({ partnerId: randomUUID(), enableConnection: true });
  const batch = new BatchRequestContent(a, errorMappings);
  const create = set.toPostRequestInformation({ partnerId: randomUUID(), enableConnection: false });
  const get = set.byCloudPcExternalPartnerId(existing.id).toGetRequestInformation();
  const missing = new RequestInformation(HttpMethod.GET, `${BASE}/beta/deviceManagement/virtualEndpoint/externalPartners/${randomUUID()}`);
  const steps = [batch.addBatchRequest(create), batch.addBatchRequest(get), batch.addBatchRequest(missing)];
  const answers = await batch.postAsync();
  const codes = await answers.getResponsesStatusCodes();
  assert.deepEqual(steps.map((s) => codes.get(s.id)), [201, 200, 404]);
  // msgraph-sdk-core 1.0.0-preview.17 reads an item's body only when it is a base64
  // string (getByteArrayValue), while Graph answers JSON items with JSON objects, as
  // this service does; so the typed bodies are checked by reading the records back.
  assert.equal(answers.getParsableResponseById(steps[1].id, a.getParseNodeFactory(), createCloudPcExternalPartnerFromDiscriminatorValue), undefined);
  const all = await set.get();
  assert.equal(all.value.length, 2);
  assert.ok(all.value.some((p) => p.id === existing.id));
  assert.ok(all.value.some((p) => p.enableConnection === false));
});
