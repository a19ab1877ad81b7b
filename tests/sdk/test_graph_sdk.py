"""Microsoft's Graph beta SDK for Python, unchanged, against a real cloudpc-partners.

The server binary is started on a free port with a fresh data dir, over HTTPS with
its development certificate (trusted through SSL_CERT_FILE, as a user would), on the
embedded database or, with CLOUDPC_PARTNERS_SDK_DATABASE, on PostgreSQL. Tokens come
from its `token` command. The SDK's request adapter takes our base URL and a
static-token provider, exactly as an integration test of a partner tool would set it up.
"""

import asyncio
import os
import pathlib
import subprocess
import tempfile
import uuid

import pytest
from azure.identity import ClientSecretCredential
from azure.identity.aio import ClientSecretCredential as AsyncClientSecretCredential
from kiota_abstractions.authentication import (
    AccessTokenProvider,
    AllowedHostsValidator,
    BaseBearerTokenAuthenticationProvider,
)
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph_beta import GraphRequestAdapter, GraphServiceClient
from msgraph_beta.generated.device_management.virtual_endpoint.external_partner_settings.external_partner_settings_request_builder import (
    ExternalPartnerSettingsRequestBuilder,
)
from msgraph_beta.generated.device_management.virtual_endpoint.external_partners.external_partners_request_builder import (
    ExternalPartnersRequestBuilder,
)
from msgraph_beta.generated.models.cloud_pc_external_partner import CloudPcExternalPartner
from msgraph_beta.generated.models.cloud_pc_external_partner_setting import CloudPcExternalPartnerSetting
from msgraph_beta.generated.models.cloud_pc_external_partner_status import CloudPcExternalPartnerStatus
from msgraph_beta.generated.models.o_data_errors.o_data_error import ODataError
from msgraph_core.requests.batch_request_builder import BatchRequestBuilder
from msgraph_core.requests.batch_request_content import BatchRequestContent
from msgraph_core.requests.batch_request_item import BatchRequestItem
from msgraph_core.tasks.page_iterator import PageIterator

ROOT = pathlib.Path(__file__).resolve().parents[2]
BINARY = os.environ.get("CLOUDPC_PARTNERS_BIN", str(ROOT / "target" / "debug" / "cloudpc-partners"))
TENANT = str(uuid.uuid4())
OTHER_TENANT = str(uuid.uuid4())


class StaticToken(AccessTokenProvider):
    def __init__(self, token: str):
        self.token = token

    async def get_authorization_token(self, uri, additional_authentication_context=None) -> str:
        return self.token

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        return AllowedHostsValidator(["127.0.0.1"])


@pytest.fixture(scope="module")
def server():
    data_dir = tempfile.mkdtemp(prefix="cloudpc-sdk-")
    # The database this run names, never one inherited from DATABASE_URL.
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    args = [BINARY, "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir, "--tls-dev", "--dev", "--shutdown-grace", "1s"]
    if os.environ.get("CLOUDPC_PARTNERS_SDK_DATABASE"):
        args += ["--database", os.environ["CLOUDPC_PARTNERS_SDK_DATABASE"]]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline().strip()
    assert line.startswith("listening on https://"), line
    base = line.removeprefix("listening on ")
    # httpx, under the SDK, and aiohttp trust the CA file SSL_CERT_FILE names; requests
    # (under azure-identity's synchronous credentials) the one REQUESTS_CA_BUNDLE names.
    os.environ["SSL_CERT_FILE"] = os.path.join(data_dir, "tls", "dev-ca.pem")
    os.environ["REQUESTS_CA_BUNDLE"] = os.environ["SSL_CERT_FILE"]
    yield {"base": base, "data_dir": data_dir}
    proc.terminate()
    proc.wait(timeout=30)


def token(server, tenant=TENANT, scopes="CloudPC.ReadWrite.All", app=False, partner=None):
    args = [BINARY, "token", "--data-dir", server["data_dir"], "--tenant", tenant, "--scopes", scopes]
    if app:
        args.append("--app")
    if partner:
        args += ["--partner", partner]
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout.strip()


def client(server, tok) -> GraphServiceClient:
    adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(StaticToken(tok)))
    adapter.base_url = server["base"] + "/beta"
    return GraphServiceClient(request_adapter=adapter)


# One loop for the module: the SDK's HTTP client keeps connections bound to the loop
# that opened them.
LOOP = asyncio.new_event_loop()


def run(coro):
    return LOOP.run_until_complete(coro)


def test_create_get_patch_through_the_new_view(server):
    ve = client(server, token(server)).device_management.virtual_endpoint
    partner_id = str(uuid.uuid4())
    created = run(ve.external_partners.post(CloudPcExternalPartner(partner_id=partner_id, enable_connection=True)))
    assert created.partner_id == partner_id
    assert created.enable_connection is True
    assert created.connection_status == CloudPcExternalPartnerStatus.Available
    assert created.last_sync_date_time is None
    assert created.status_details
    assert created.odata_type == "#microsoft.graph.cloudPcExternalPartner"

    got = run(ve.external_partners.by_cloud_pc_external_partner_id(created.id).get())
    assert got.id == created.id and got.partner_id == partner_id

    patched = run(
        ve.external_partners.by_cloud_pc_external_partner_id(created.id).patch(
            CloudPcExternalPartner(enable_connection=False)
        )
    )
    assert patched.enable_connection is False
    assert patched.connection_status == CloudPcExternalPartnerStatus.NotAvailable


def test_list_with_filter_select_top_count_and_paging(server):
    tenant = str(uuid.uuid4())
    ve = client(server, token(server, tenant=tenant, app=True)).device_management.virtual_endpoint
    for i in range(7):
        run(ve.external_partners.post(CloudPcExternalPartner(partner_id=str(uuid.uuid4()), enable_connection=i % 2 == 0)))

    params = ExternalPartnersRequestBuilder.ExternalPartnersRequestBuilderGetQueryParameters(
        filter="enableConnection eq true", select=["id", "partnerId"], top=3, count=True, orderby=["partnerId desc"]
    )
    page = run(ve.external_partners.get(request_configuration=RequestConfiguration(query_parameters=params)))
    assert page.odata_count == 4
    assert len(page.value) == 3
    assert all(p.partner_id and p.enable_connection is None for p in page.value)
    ids = [p.partner_id for p in page.value]
    assert ids == sorted(ids, reverse=True)
    # $top is the page size: the nextLink carries the rest, with the same options.
    assert page.odata_next_link and "%24top=3" in page.odata_next_link.replace("$", "%24")
    rest = run(ve.external_partners.with_url(page.odata_next_link).get())
    assert len(rest.value) == 1 and rest.odata_next_link is None
    ids += [p.partner_id for p in rest.value]
    assert ids == sorted(ids, reverse=True)

    everything = run(ve.external_partners.get())
    assert len(everything.value) == 7

    count = run(ve.external_partners.count.get())
    assert count == 7


def test_paging_through_next_links(server):
    tenant = str(uuid.uuid4())
    ve = client(server, token(server, tenant=tenant)).device_management.virtual_endpoint
    for _ in range(120):
        run(ve.external_partners.post(CloudPcExternalPartner(partner_id=str(uuid.uuid4()), enable_connection=True)))
    first = run(ve.external_partners.get())
    assert len(first.value) == 100 and first.odata_next_link
    second = run(ve.external_partners.with_url(first.odata_next_link).get())
    assert len(second.value) == 20 and second.odata_next_link is None
    assert not {p.id for p in first.value} & {p.id for p in second.value}


def test_the_older_settings_view_reads_and_writes_the_same_records(server):
    tenant = str(uuid.uuid4())
    ve = client(server, token(server, tenant=tenant)).device_management.virtual_endpoint
    created = run(
        ve.external_partner_settings.post(
            CloudPcExternalPartnerSetting(partner_id=str(uuid.uuid4()), enable_connection=False)
        )
    )
    assert created.status == CloudPcExternalPartnerStatus.NotAvailable
    params = ExternalPartnerSettingsRequestBuilder.ExternalPartnerSettingsRequestBuilderGetQueryParameters(
        filter="status eq 'notAvailable'", select=["id", "status"], top=5, count=True
    )
    page = run(ve.external_partner_settings.get(request_configuration=RequestConfiguration(query_parameters=params)))
    assert page.odata_count == 1 and page.value[0].id == created.id

    patched = run(
        ve.external_partner_settings.by_cloud_pc_external_partner_setting_id(created.id).patch(
            CloudPcExternalPartnerSetting(odata_type="#microsoft.graph.cloudPcExternalPartnerSetting", enable_connection=True)
        )
    )
    assert patched.status == CloudPcExternalPartnerStatus.Available
    same = run(ve.external_partners.by_cloud_pc_external_partner_id(created.id).get())
    assert same.connection_status == CloudPcExternalPartnerStatus.Available
    assert run(ve.external_partner_settings.count.get()) == 1
    got = run(ve.external_partner_settings.by_cloud_pc_external_partner_setting_id(created.id).get())
    assert got.partner_id == created.partner_id


def test_errors_surface_as_odata_error(server):
    ve = client(server, token(server)).device_management.virtual_endpoint

    with pytest.raises(ODataError) as e:
        run(ve.external_partners.by_cloud_pc_external_partner_id(str(uuid.uuid4())).get())
    assert e.value.response_status_code == 404
    assert e.value.error.code == "ResourceNotFound"
    assert e.value.error.inner_error is not None

    with pytest.raises(ODataError) as e:
        run(ve.external_partners.post(CloudPcExternalPartner(partner_id="not-a-guid", enable_connection=True)))
    assert e.value.response_status_code == 400
    assert e.value.error.code == "BadRequest"
    assert "GUID" in e.value.error.message

    partner_id = str(uuid.uuid4())
    run(ve.external_partners.post(CloudPcExternalPartner(partner_id=partner_id, enable_connection=True)))
    with pytest.raises(ODataError) as e:
        run(ve.external_partners.post(CloudPcExternalPartner(partner_id=partner_id, enable_connection=True)))
    assert e.value.response_status_code == 409 and e.value.error.code == "Conflict"

    params = ExternalPartnersRequestBuilder.ExternalPartnersRequestBuilderGetQueryParameters(filter="colour eq 'red'")
    with pytest.raises(ODataError) as e:
        run(ve.external_partners.get(request_configuration=RequestConfiguration(query_parameters=params)))
    assert e.value.response_status_code == 400 and "colour" in e.value.error.message

    reader = client(server, token(server, scopes="CloudPC.Read.All")).device_management.virtual_endpoint
    with pytest.raises(ODataError) as e:
        run(reader.external_partners.post(CloudPcExternalPartner(partner_id=str(uuid.uuid4()), enable_connection=True)))
    assert e.value.response_status_code == 403 and e.value.error.code == "Authorization_RequestDenied"

    bad = client(server, "not-a-token").device_management.virtual_endpoint
    with pytest.raises(ODataError) as e:
        run(bad.external_partners.get())
    assert e.value.response_status_code == 401 and e.value.error.code == "InvalidAuthenticationToken"


def test_tenants_do_not_see_each_other(server):
    mine = client(server, token(server, tenant=OTHER_TENANT)).device_management.virtual_endpoint
    created = run(mine.external_partners.post(CloudPcExternalPartner(partner_id=str(uuid.uuid4()), enable_connection=True)))
    theirs = client(server, token(server, tenant=str(uuid.uuid4()))).device_management.virtual_endpoint
    with pytest.raises(ODataError) as e:
        run(theirs.external_partners.by_cloud_pc_external_partner_id(created.id).get())
    assert e.value.response_status_code == 404
    assert run(theirs.external_partners.count.get()) == 0


def test_delete_for_cleanup(server):
    ve = client(server, token(server, tenant=str(uuid.uuid4()))).device_management.virtual_endpoint
    created = run(ve.external_partners.post(CloudPcExternalPartner(partner_id=str(uuid.uuid4()), enable_connection=True)))
    run(ve.external_partners.by_cloud_pc_external_partner_id(created.id).delete())
    assert run(ve.external_partners.count.get()) == 0


def test_page_iterator_visits_every_record(server):
    tenant = str(uuid.uuid4())
    graph = client(server, token(server, tenant=tenant))
    ve = graph.device_management.virtual_endpoint
    made = set()
    for _ in range(12):
        made.add(run(ve.external_partners.post(CloudPcExternalPartner(partner_id=str(uuid.uuid4()), enable_connection=True))).id)
    params = ExternalPartnersRequestBuilder.ExternalPartnersRequestBuilderGetQueryParameters(top=5)
    first = run(ve.external_partners.get(request_configuration=RequestConfiguration(query_parameters=params)))
    assert len(first.value) == 5 and "https://" in first.odata_next_link
    seen = []

    def visit(partner):
        seen.append(partner.id)
        return True

    run(PageIterator(first, graph.request_adapter).iterate(visit))
    assert sorted(seen) == sorted(made)


def test_batch_through_msgraph_core(server):
    """msgraph-core's batching, with its own gaps worked around where noted: in the
    version msgraph-beta-sdk 1.66.0 pins (1.5.2) it imports `deprecated` without
    declaring it (requirements.txt adds it), sends `depends_on` where Graph reads
    `dependsOn` (so dependencies are not expressed here), sends lower-case header
    names (read case-insensitively, as Graph does) and, once its adapter has been
    used, absolute item URLs (served when under /beta). It reads an item's body only
    when it is a base64 string, while Graph (and this service) answers JSON items with
    JSON objects, so the results are checked by status and by reading them back."""
    tenant = str(uuid.uuid4())
    graph = client(server, token(server, tenant=tenant))
    ve = graph.device_management.virtual_endpoint
    existing = run(ve.external_partners.post(CloudPcExternalPartner(partner_id=str(uuid.uuid4()), enable_connection=True)))
    create = ve.external_partners.to_post_request_information(
        CloudPcExternalPartner(partner_id=str(uuid.uuid4()), enable_connection=False)
    )
    get = ve.external_partners.by_cloud_pc_external_partner_id(existing.id).to_get_request_information()
    missing = ve.external_partners.by_cloud_pc_external_partner_id(str(uuid.uuid4())).to_get_request_information()
    content = BatchRequestContent(
        {"1": BatchRequestItem(create, id="1"), "2": BatchRequestItem(get, id="2"), "3": BatchRequestItem(missing, id="3")}
    )
    answer = run(BatchRequestBuilder(graph.request_adapter).post(content))
    assert answer.get_response_status_codes() == {"1": 201, "2": 200, "3": 404}
    assert answer.get_response_by_id("1").headers["Location"].startswith("https://")
    everything = run(ve.external_partners.get())
    assert len(everything.value) == 2
    assert any(p.id == existing.id for p in everything.value)
    assert any(p.enable_connection is False for p in everything.value)


def test_agent_members_through_the_sdk(server):
    """configureAgent, deployAgent, both functions, then the partner's progress, as a
    partner tool would drive them through Microsoft's SDK (the partner's side is this
    service's own API, called over plain HTTPS)."""
    import httpx

    from msgraph_beta.generated.device_management.virtual_endpoint.external_partners.item.configure_agent.configure_agent_post_request_body import (
        ConfigureAgentPostRequestBody,
    )
    from msgraph_beta.generated.device_management.virtual_endpoint.external_partners.item.deploy_agent.deploy_agent_post_request_body import (
        DeployAgentPostRequestBody,
    )
    from msgraph_beta.generated.device_management.virtual_endpoint.external_partners.item.retrieve_deploy_agent_action_resultsactivity_id_activity_id_cloud_pc_id_cloud_pc_id.retrieve_deploy_agent_action_resultsactivity_id_activity_id_cloud_pc_id_cloud_pc_id_request_builder import (
        RetrieveDeployAgentActionResultsactivityIdActivityIdCloudPcIdCloudPcIdRequestBuilder as Results,
    )
    from msgraph_beta.generated.models.cloud_pc_external_partner_action_status import CloudPcExternalPartnerActionStatus
    from msgraph_beta.generated.models.cloud_pc_external_partner_action_type import CloudPcExternalPartnerActionType
    from msgraph_beta.generated.models.cloud_pc_external_partner_agent_setting import CloudPcExternalPartnerAgentSetting
    from msgraph_beta.generated.models.cloud_pc_external_partner_authenticated_method import (
        CloudPcExternalPartnerAuthenticatedMethod,
    )

    tenant, partner_id = str(uuid.uuid4()), str(uuid.uuid4())
    ve = client(server, token(server, tenant=tenant)).device_management.virtual_endpoint
    created = run(ve.external_partners.post(CloudPcExternalPartner(partner_id=partner_id, enable_connection=True)))
    item = ve.external_partners.by_cloud_pc_external_partner_id(created.id)
    setting = CloudPcExternalPartnerAgentSetting(
        agent_url="https://partner.example/dl/agent.msi",
        agent_sha256="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        install_parameters=["/quiet"],
        auto_deployment_enabled=True,
    )
    run(item.configure_agent.post(ConfigureAgentPostRequestBody(agent_setting=setting)))
    got = run(item.get())
    assert got.agent_setting.agent_url == setting.agent_url and got.agent_setting.install_parameters == ["/quiet"]

    with pytest.raises(ODataError) as e:
        bad = CloudPcExternalPartnerAgentSetting(agent_url="http://insecure.example/a.msi", agent_sha256="00")
        run(item.configure_agent.post(ConfigureAgentPostRequestBody(agent_setting=bad)))
    assert e.value.response_status_code == 400 and "https" in e.value.error.message
    app_only = client(server, token(server, tenant=tenant, app=True))
    with pytest.raises(ODataError) as e:
        run(
            app_only.device_management.virtual_endpoint.external_partners.by_cloud_pc_external_partner_id(created.id)
            .configure_agent.post(ConfigureAgentPostRequestBody(agent_setting=setting))
        )
    assert e.value.response_status_code == 403

    pcs = [str(uuid.uuid4()), str(uuid.uuid4())]
    deployed = run(item.deploy_agent.post(DeployAgentPostRequestBody(cloud_pc_ids=pcs)))
    activity = deployed.value
    assert uuid.UUID(activity)

    params = Results.RetrieveDeployAgentActionResultsactivityIdActivityIdCloudPcIdCloudPcIdRequestBuilderGetQueryParameters(
        activity_id=activity, cloud_pc_id=""
    )
    results = run(
        item.retrieve_deploy_agent_action_resultsactivity_id_activity_id_cloud_pc_id_cloud_pc_id.get(
            request_configuration=RequestConfiguration(query_parameters=params)
        )
    )
    assert sorted(r.cloud_pc_id for r in results.value) == sorted(pcs)
    assert all(r.state == CloudPcExternalPartnerActionStatus.Pending for r in results.value)

    # The partner moves one result along over its own API.
    partner = token(server, tenant=tenant, partner=partner_id)
    ca = os.environ["SSL_CERT_FILE"]
    with httpx.Client(base_url=server["base"], verify=ca, headers={"Authorization": f"Bearer {partner}"}) as http:
        todo = http.get("/partner/v1/deployments", params={"state": "pending"}).json()
        assert len(todo["value"]) == 2
        done = http.post(
            f"/partner/v1/deployments/{activity}/results",
            json={"results": [{"cloudPcId": pcs[0], "state": "succeeded"}]},
        )
        assert done.status_code == 204

    params = Results.RetrieveDeployAgentActionResultsactivityIdActivityIdCloudPcIdCloudPcIdRequestBuilderGetQueryParameters(
        activity_id=activity, cloud_pc_id=pcs[0]
    )
    one = run(
        item.retrieve_deploy_agent_action_resultsactivity_id_activity_id_cloud_pc_id_cloud_pc_id.get(
            request_configuration=RequestConfiguration(query_parameters=params)
        )
    )
    assert [r.state for r in one.value] == [CloudPcExternalPartnerActionStatus.Succeeded]

    reports = run(item.retrieve_action_reports.get())
    assert [r.action_type for r in reports.value] == [
        CloudPcExternalPartnerActionType.DeployAgent,
        CloudPcExternalPartnerActionType.DeployAgent,
        CloudPcExternalPartnerActionType.ConfigureAgent,
    ]
    assert all(r.authenticated_method == CloudPcExternalPartnerAuthenticatedMethod.NormalUser for r in reports.value)
    assert reports.value[-1].agent_setting.agent_sha256 == setting.agent_sha256


def test_an_app_authenticates_the_normal_way_with_client_secret_credential(server):
    """Only the authority and the Graph base URL change from what runs against Graph.

    `disable_instance_discovery` is needed for any authority Microsoft does not know
    (Azure Stack's too): otherwise MSAL asks login.microsoftonline.com about it first.
    """
    tenant = str(uuid.uuid4())
    authority = server["base"]

    async def list_with(credential):
        graph = GraphServiceClient(credential, ["https://graph.microsoft.com/.default"])
        graph.request_adapter.base_url = server["base"] + "/beta"
        ve = graph.device_management.virtual_endpoint
        created = await ve.external_partners.post(
            CloudPcExternalPartner(partner_id=str(uuid.uuid4()), enable_connection=True)
        )
        listed = await ve.external_partners.get()
        return created, listed

    # MSAL underneath: OpenID discovery at the authority, then the token endpoint.
    sync_credential = ClientSecretCredential(
        tenant, "my-admin-tool", "not-a-real-secret", authority=authority, disable_instance_discovery=True
    )
    created, listed = run(list_with(sync_credential))
    assert [p.id for p in listed.value] == [created.id]

    async def with_async_credential():
        async with AsyncClientSecretCredential(
            tenant, "my-admin-tool", "not-a-real-secret", authority=authority, disable_instance_discovery=True
        ) as credential:
            return await list_with(credential)

    created, listed = run(with_async_credential())
    assert len(listed.value) == 2 and created.id in [p.id for p in listed.value]

    # A token request the endpoint refuses surfaces as azure-identity's own error.
    from azure.core.exceptions import ClientAuthenticationError

    refused = ClientSecretCredential(
        "not-a-tenant-guid", "my-admin-tool", "secret", authority=authority, disable_instance_discovery=True
    )
    with pytest.raises(ClientAuthenticationError):
        refused.get_token("https://graph.microsoft.com/.default")
