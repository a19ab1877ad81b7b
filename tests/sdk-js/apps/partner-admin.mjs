// A small admin tool for Windows 365 external partner connections, written the way
// Microsoft's JavaScript samples write a Graph app: @azure/identity's
// ClientSecretCredential for the tenant, then either the classic client with
// TokenCredentialAuthenticationProvider or the Kiota beta SDK with
// AzureIdentityAuthenticationProvider. Nothing in it knows about a stand-in: no base
// URL, no authority host, no discovery flag. Pointed at cloudpc-partners by its
// environment alone (`eval "$(cloudpc-partners env)"`, plus Node's proxy preload), it
// runs unchanged.
//
//   node partner-admin.mjs classic|kiota
//
// It reads AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET; creates three
// connections, lists them two to a page, reads, disables and deletes one; and prints
// what it saw.
import { randomUUID } from "node:crypto";
import { ClientSecretCredential } from "@azure/identity";
import { Client } from "@microsoft/microsoft-graph-client";
import { TokenCredentialAuthenticationProvider } from "@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials/index.js";
import { AzureIdentityAuthenticationProvider } from "@microsoft/kiota-authentication-azure";
import { DefaultRequestAdapter } from "@microsoft/kiota-bundle";
import { createGraphBetaServiceClient } from "@microsoft/msgraph-beta-sdk";
// What an app imports as @microsoft/msgraph-beta-sdk-devicemanagement, a package the
// registry does not carry: the request builders, registered as it registers them.
import "../externalPartners.mjs";

const scopes = ["https://graph.microsoft.com/.default"];
const credential = new ClientSecretCredential(
  process.env.AZURE_TENANT_ID,
  process.env.AZURE_CLIENT_ID,
  process.env.AZURE_CLIENT_SECRET,
);
const SET = "/deviceManagement/virtualEndpoint/externalPartners";

async function classic() {
  const authProvider = new TokenCredentialAuthenticationProvider(credential, { scopes });
  const graph = Client.initWithMiddleware({ authProvider, defaultVersion: "beta" });
  const created = [];
  for (let i = 0; i < 3; i++) {
    created.push(await graph.api(SET).post({ partnerId: randomUUID(), enableConnection: true }));
  }
  console.log(`created ${created.length}`);
  const seen = [];
  let pages = 0;
  let page = await graph.api(SET).top(2).get();
  while (page) {
    pages += 1;
    seen.push(...page.value.map((p) => p.id));
    page = page["@odata.nextLink"] ? await graph.api(page["@odata.nextLink"]).get() : null;
  }
  console.log(`listed ${seen.length} in ${pages} pages`);
  const id = created[0].id;
  const read = await graph.api(`${SET}/${id}`).get();
  console.log(`read ${read.id} ${read.connectionStatus}`);
  const patched = await graph.api(`${SET}/${id}`).patch({ enableConnection: false });
  console.log(`disabled ${patched.id} ${patched.connectionStatus}`);
  await graph.api(`${SET}/${id}`).delete();
  console.log(`deleted ${id}`);
}

async function kiota() {
  const authProvider = new AzureIdentityAuthenticationProvider(credential, scopes);
  const graph = createGraphBetaServiceClient(new DefaultRequestAdapter(authProvider));
  const partners = graph.deviceManagement.virtualEndpoint.externalPartners;
  const created = [];
  for (let i = 0; i < 3; i++) {
    created.push(await partners.post({ partnerId: randomUUID(), enableConnection: true }));
  }
  console.log(`created ${created.length}`);
  const seen = [];
  let pages = 0;
  let page = await partners.get({ queryParameters: { top: 2 } });
  while (page) {
    pages += 1;
    seen.push(...page.value.map((p) => p.id));
    page = page.odataNextLink ? await partners.withUrl(page.odataNextLink).get() : null;
  }
  console.log(`listed ${seen.length} in ${pages} pages`);
  const one = partners.byCloudPcExternalPartnerId(created[0].id);
  const read = await one.get();
  console.log(`read ${read.id} ${read.connectionStatus}`);
  const patched = await one.patch({ enableConnection: false });
  console.log(`disabled ${patched.id} ${patched.connectionStatus}`);
  await one.delete();
  console.log(`deleted ${read.id}`);
}

await (process.argv[2] === "kiota" ? kiota() : classic());
