"""A small admin tool for Windows 365 external partner connections, written the way
Microsoft's samples write a Graph app: a client-secret credential for the tenant and
GraphServiceClient with the .default scope. Nothing in it knows about a stand-in: no
base URL, no authority, no discovery flag. Pointed at cloudpc-partners by its
environment alone (`eval "$(cloudpc-partners env)"`), it runs unchanged.

    python partner_admin.py [sync|async]

It reads AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, as Azure Identity's
samples do; creates three connections, lists them two to a page, reads, disables and
deletes one; and prints what it saw.
"""

import asyncio
import os
import sys
import uuid

from azure.identity import ClientSecretCredential
from azure.identity.aio import ClientSecretCredential as AsyncClientSecretCredential
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph_beta import GraphServiceClient
from msgraph_beta.generated.device_management.virtual_endpoint.external_partners.external_partners_request_builder import (
    ExternalPartnersRequestBuilder,
)
from msgraph_beta.generated.models.cloud_pc_external_partner import CloudPcExternalPartner

SCOPES = ["https://graph.microsoft.com/.default"]


async def admin(credential) -> None:
    graph = GraphServiceClient(credential, SCOPES)
    partners = graph.device_management.virtual_endpoint.external_partners

    created = []
    for _ in range(3):
        connection = CloudPcExternalPartner(partner_id=str(uuid.uuid4()), enable_connection=True)
        created.append(await partners.post(connection))
    print("created", len(created))

    query = ExternalPartnersRequestBuilder.ExternalPartnersRequestBuilderGetQueryParameters(top=2)
    page = await partners.get(request_configuration=RequestConfiguration(query_parameters=query))
    seen, pages = [], 0
    while page is not None:
        pages += 1
        seen += [p.id for p in page.value]
        page = await partners.with_url(page.odata_next_link).get() if page.odata_next_link else None
    print("listed", len(seen), "in", pages, "pages")
    assert set(seen) >= {c.id for c in created}, (seen, created)

    first = partners.by_cloud_pc_external_partner_id(created[0].id)
    read = await first.get()
    print("read", read.id, read.connection_status.value)
    patched = await first.patch(CloudPcExternalPartner(enable_connection=False))
    print("disabled", patched.id, patched.connection_status.value)
    await first.delete()
    print("deleted", read.id)


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else "sync"
    tenant = os.environ["AZURE_TENANT_ID"]
    client_id = os.environ["AZURE_CLIENT_ID"]
    secret = os.environ["AZURE_CLIENT_SECRET"]
    if mode == "async":
        async def run() -> None:
            async with AsyncClientSecretCredential(tenant, client_id, secret) as credential:
                await admin(credential)

        asyncio.run(run())
    else:
        asyncio.run(admin(ClientSecretCredential(tenant, client_id, secret)))


if __name__ == "__main__":
    main()
