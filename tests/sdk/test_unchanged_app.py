"""An unchanged app against cloudpc-partners: apps/partner_admin.py holds no stand-in
address at all. The stand-in runs in dev mode with its intercepting proxy, passing
nothing through (`--proxy-passthrough false`), so any call the app tried to make to
another host would fail it; the app's environment is exactly what
`cloudpc-partners env` prints, plus the credential's three AZURE_* variables.

Runs on the embedded database, or on PostgreSQL with CLOUDPC_PARTNERS_SDK_DATABASE.
"""

import json
import os
import pathlib
import shlex
import subprocess
import sys
import tempfile
import urllib.request
import uuid

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BINARY = os.environ.get("CLOUDPC_PARTNERS_BIN", str(ROOT / "target" / "debug" / "cloudpc-partners"))
APP = pathlib.Path(__file__).resolve().parent / "apps" / "partner_admin.py"
# What any environment may carry that would point the app elsewhere or trust other roots.
INHERITED = {
    "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "DATABASE_URL",
}


@pytest.fixture(scope="module")
def stand_in():
    data_dir = tempfile.mkdtemp(prefix="cloudpc-unchanged-")
    env = {k: v for k, v in os.environ.items() if k not in INHERITED}
    # --dev-shared: the test reads the journal across tenants (the token requests').
    args = [BINARY, "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir, "--dev", "--dev-shared",
            "--proxy-listen", "127.0.0.1:0", "--proxy-passthrough", "false", "--shutdown-grace", "1s"]
    if os.environ.get("CLOUDPC_PARTNERS_SDK_DATABASE"):
        args += ["--database", os.environ["CLOUDPC_PARTNERS_SDK_DATABASE"]]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    listening = proc.stdout.readline().strip()
    proxying = proc.stdout.readline().strip()
    assert listening.startswith("listening on http://"), listening
    assert proxying.startswith("proxying on http://"), proxying
    yield {
        "base": listening.removeprefix("listening on "),
        "proxy": proxying.removeprefix("proxying on http://"),
        "data_dir": data_dir,
        "clean_env": env,
    }
    proc.terminate()
    proc.wait(timeout=30)


def env_lines(stand_in) -> dict:
    """What `cloudpc-partners env` tells a POSIX shell to export, read as a shell would."""
    out = subprocess.run(
        [BINARY, "env", "--data-dir", stand_in["data_dir"], "--proxy", stand_in["proxy"]],
        check=True, capture_output=True, text=True,
    ).stdout
    found = {}
    for line in out.splitlines():
        word, assignment = line.split(" ", 1)
        assert word == "export", line
        name, value = assignment.split("=", 1)
        found[name] = shlex.split(value)[0]
    return found


def journal(stand_in, tenant):
    token = subprocess.run(
        [BINARY, "token", "--data-dir", stand_in["data_dir"], "--tenant", tenant, "--scopes", "CloudPC.ReadWrite.All"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    req = urllib.request.Request(
        stand_in["base"] + "/dev/v1/journal?tenant=all&top=1000", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(req) as res:
        return json.load(res)["value"]


@pytest.mark.parametrize("mode,tenant_name", [("sync", None), ("async", "contoso-{}.onmicrosoft.com")])
def test_an_unchanged_app_runs_against_the_stand_in_with_only_its_environment_set(stand_in, mode, tenant_name):
    source = APP.read_text()
    for stand_in_setting in ("127.0.0.1", "localhost", "authority=", "base_url", "disable_instance_discovery", "verify"):
        assert stand_in_setting not in source, stand_in_setting
    tenant = str(uuid.uuid4())
    named = tenant
    if tenant_name:
        # A tenant named by domain lands in the GUID the README says: uuid5 of the name.
        named = tenant_name.format(tenant[:8])
        tenant = str(uuid.uuid5(uuid.NAMESPACE_DNS, named))
    env = dict(stand_in["clean_env"])
    env.update(env_lines(stand_in))
    env.update({"AZURE_TENANT_ID": named, "AZURE_CLIENT_ID": "partner-admin", "AZURE_CLIENT_SECRET": "not-a-secret"})
    run = subprocess.run([sys.executable, str(APP), mode], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-4000:]
    lines = run.stdout.splitlines()
    assert lines[0] == "created 3"
    assert lines[1] == "listed 3 in 2 pages"
    assert lines[2].startswith("read ") and lines[2].endswith(" available")
    assert lines[3].endswith(" notAvailable")
    assert lines[4].startswith("deleted ")

    # Every request reached the stand-in through the proxy, addressed to Microsoft's hosts.
    entries = journal(stand_in, tenant)
    graph = [e for e in entries if e["tenantId"] == tenant]
    assert len(graph) >= 3 + 2 + 3, graph
    assert all(e["viaProxy"] and e["host"] == "graph.microsoft.com" for e in graph), graph
    tokens = [e for e in entries if (tenant in e["path"] or named in e["path"]) and "/oauth2/" in e["path"]]
    assert tokens and all(e["viaProxy"] and e["host"] == "login.microsoftonline.com" for e in tokens), entries


def test_curl_reaches_graph_and_entra_by_their_names_with_only_the_environment_set(stand_in):
    env = dict(stand_in["clean_env"])
    env.update(env_lines(stand_in))
    tenant = str(uuid.uuid4())

    def curl(*args):
        run = subprocess.run(["curl", "--silent", "--show-error", "--fail-with-body", *args],
                             env=env, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr + run.stdout
        return json.loads(run.stdout)

    minted = curl(f"https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
                  "-d", "grant_type=client_credentials", "-d", "client_id=runbook", "-d", "client_secret=s",
                  "--data-urlencode", "scope=https://graph.microsoft.com/.default")
    auth = f"Authorization: Bearer {minted['access_token']}"
    created = curl("https://graph.microsoft.com/beta/deviceManagement/virtualEndpoint/externalPartners",
                   "-H", auth, "-H", "Content-Type: application/json",
                   "-d", json.dumps({"partnerId": str(uuid.uuid4()), "enableConnection": True}))
    listed = curl("https://graph.microsoft.com/beta/deviceManagement/virtualEndpoint/externalPartners", "-H", auth)
    assert [p["id"] for p in listed["value"]] == [created["id"]]
    assert listed["@odata.context"].startswith("https://graph.microsoft.com/beta/")


PYJWT_CHECK = """
import json, sys, urllib.request, urllib.parse
import jwt

tenant = sys.argv[1]
authority = f"https://login.microsoftonline.com/{tenant}"
form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": "checker",
                               "client_secret": "s", "scope": "https://graph.microsoft.com/.default"}).encode()
token = json.load(urllib.request.urlopen(f"{authority}/oauth2/v2.0/token", data=form))["access_token"]
config = json.load(urllib.request.urlopen(f"{authority}/v2.0/.well-known/openid-configuration"))
key = jwt.PyJWKClient(config["jwks_uri"]).get_signing_key_from_jwt(token)
claims = jwt.decode(token, key.key, algorithms=["RS256"], audience="https://graph.microsoft.com",
                    issuer=f"https://sts.windows.net/{tenant}/")
print(json.dumps(claims))
"""


def test_a_token_verifies_with_pyjwt_against_the_published_jwks_uri(stand_in):
    env = dict(stand_in["clean_env"])
    env.update(env_lines(stand_in))
    tenant = str(uuid.uuid4())
    run = subprocess.run([sys.executable, "-c", PYJWT_CHECK, tenant], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-3000:]
    claims = json.loads(run.stdout)
    assert claims["tid"] == tenant and claims["ver"] == "1.0" and claims["idtyp"] == "app"
    assert claims["roles"] == ["CloudPC.ReadWrite.All"] and claims["appid"] == "checker"
    for name in ("oid", "sub", "uti", "iat", "nbf", "exp", "app_displayname"):
        assert name in claims, name
