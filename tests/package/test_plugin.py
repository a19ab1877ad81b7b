"""The pytest plugin as a user gets it: this file runs in a fresh virtualenv that has
only the built cloudpc-partners wheel, Microsoft's Graph beta SDK and pytest (with
pytest-xdist, so tests run in parallel). No path to the repository or its binary.
"""

import asyncio
import shutil
import ssl
import uuid

import pytest
from kiota_abstractions.authentication import (
    AccessTokenProvider,
    AllowedHostsValidator,
    BaseBearerTokenAuthenticationProvider,
)
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_http.kiota_client_factory import KiotaClientFactory
from msgraph_beta import GraphRequestAdapter, GraphServiceClient
from msgraph_beta.generated.device_management.virtual_endpoint.external_partners.external_partners_request_builder import (
    ExternalPartnersRequestBuilder,
)
from msgraph_beta.generated.models.cloud_pc_external_partner import CloudPcExternalPartner


class StaticToken(AccessTokenProvider):
    def __init__(self, token):
        self.token = token

    async def get_authorization_token(self, uri, additional_authentication_context=None):
        return self.token

    def get_allowed_hosts_validator(self):
        return AllowedHostsValidator(["127.0.0.1"])


def graph(stand_in, tenant):
    """Microsoft's SDK pointed at the stand-in, trusting its development CA."""
    import httpx

    http = KiotaClientFactory.create_with_default_middleware(
        httpx.AsyncClient(verify=ssl.create_default_context(cafile=stand_in.ca_file), http2=True)
    )
    adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(StaticToken(tenant.token(app=True))), client=http)
    adapter.base_url = stand_in.base_url
    return GraphServiceClient(request_adapter=adapter).device_management.virtual_endpoint.external_partners


def test_the_binary_is_in_the_venvs_scripts():
    import os
    import subprocess
    import sys

    from cloudpc_partners import binary

    beside = os.path.join(os.path.dirname(sys.executable), "cloudpc-partners")
    assert binary() == beside and os.access(beside, os.X_OK)
    assert shutil.which("cloudpc-partners", path=os.path.dirname(sys.executable)) == beside
    version = subprocess.run([beside, "--version"], check=True, capture_output=True, text=True).stdout
    assert version.startswith("cloudpc-partners ")


def test_create_list_and_page_with_the_python_sdk(graph_stand_in, graph_tenant):
    partners = graph(graph_stand_in, graph_tenant)

    async def scenario():
        created = [
            await partners.post(CloudPcExternalPartner(partner_id=str(uuid.uuid4()), enable_connection=i % 2 == 0))
            for i in range(5)
        ]
        query = ExternalPartnersRequestBuilder.ExternalPartnersRequestBuilderGetQueryParameters(top=2, count=True)
        page = await partners.get(request_configuration=RequestConfiguration(query_parameters=query))
        count, seen, pages = page.odata_count, [], 0
        while page is not None:
            pages += 1
            seen += [p.id for p in page.value]
            page = await partners.with_url(page.odata_next_link).get() if page.odata_next_link else None
        return created, count, seen, pages

    created, count, seen, pages = asyncio.run(scenario())
    assert count == 5 and pages == 3
    assert sorted(seen) == sorted(c.id for c in created)


@pytest.mark.parametrize("run", range(4))
def test_each_test_gets_a_tenant_of_its_own(graph_stand_in, graph_tenant, run):
    ids = graph_tenant.seed([{"partnerId": str(uuid.uuid4()), "status": "healthy"}])
    listed = graph_stand_in.call("GET", "/beta" + "/deviceManagement/virtualEndpoint/externalPartners", graph_tenant.id)
    assert [p["id"] for p in listed["value"]] == ids
    assert graph_tenant.journal() == [] or all(e["tenantId"] == graph_tenant.id for e in graph_tenant.journal())


def test_the_environment_an_unchanged_app_needs(graph_stand_in):
    env = graph_stand_in.env
    assert env["HTTPS_PROXY"] == f"http://{graph_stand_in.proxy}"
    assert env["NODE_EXTRA_CA_CERTS"] == graph_stand_in.ca_file
