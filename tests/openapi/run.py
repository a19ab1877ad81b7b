#!/usr/bin/env python3
"""Holds /openapi.json to the live server with schemathesis.

Every documented operation is called with inputs generated from the document, valid
and invalid. A failure is a 5xx, a status or content type the document does not list,
or a body that does not match its schema. Two servers, so the fault switches the dev
API may turn on never reach the Graph and partner calls under test:
  1. Graph and partner operations, on a server without --dev;
  2. the dev API and the token endpoint, on a server with --dev.

Usage: run.py SCHEMATHESIS [DATABASE_URL]   (CLOUDPC_PARTNERS_BIN names the binary)
"""
import json
import os
import subprocess
import sys
import tempfile
import urllib.request
import uuid

BIN = os.environ["CLOUDPC_PARTNERS_BIN"]
PARTNER = "0f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b"
CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
])
# Fixed, so a run is repeatable; OPENAPI_SEED=random explores new inputs.
SEED = os.environ.get("OPENAPI_SEED", "20261129")
EXAMPLES = os.environ.get("OPENAPI_EXAMPLES", "60")
CONFIG = """
[auth.openapi.graphToken]
bearer = "${GRAPH_TOKEN}"
[auth.openapi.partnerToken]
bearer = "${PARTNER_TOKEN}"
"""


class Server:
    def __init__(self, data_dir, database, *flags):
        args = [BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir, "--no-throttling", *flags]
        if database:
            args += ["--database", database]
        self.log = open(os.path.join(data_dir, "server.log"), "w")
        # The database this run names, never one inherited from DATABASE_URL.
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log, text=True, env=env)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            raise SystemExit(f"the server did not start: {line!r}; see {self.log.name}")
        self.url = line.removeprefix("listening on ")
        self.data_dir = data_dir
        # A fresh tenant per server, so runs sharing a database never meet.
        self.tenant = str(uuid.uuid4())

    def token(self, *args):
        return subprocess.check_output(
            [BIN, "token", "--data-dir", self.data_dir, "--tenant", self.tenant, *args], text=True
        ).strip()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


def create_connection(server, token):
    """The partner under test gets a connection, so its calls can succeed."""
    req = urllib.request.Request(
        f"{server.url}/beta/deviceManagement/virtualEndpoint/externalPartners",
        data=json.dumps({"partnerId": PARTNER, "enableConnection": True}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req) as res:
        assert res.status == 201, res.status


def schemathesis(st, config, server, graph_token, partner_token, *select):
    # Run from the scratch dir: schemathesis keeps a .schemathesis/ folder where it runs.
    env = dict(os.environ, GRAPH_TOKEN=graph_token, PARTNER_TOKEN=partner_token)
    args = [
        st, "--config-file", config, "run", f"{server.url}/openapi.json",
        "--checks", CHECKS, "--max-examples", EXAMPLES, "--seed", SEED,
        "--workers", "2", "--no-color", "--request-timeout", "20",
        # Nothing kept between runs: the seed alone decides the inputs.
        "--generation-database", ":memory:", *select,
    ]
    print("$", " ".join(args[3:]), flush=True)
    return subprocess.run(args, env=env, cwd=os.path.dirname(config)).returncode


def main():
    st = sys.argv[1]
    database = sys.argv[2] if len(sys.argv) > 2 else ""
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "schemathesis.toml")
        with open(config, "w") as f:
            f.write(CONFIG)
        for name, flags, select in [
            ("Graph and partner APIs", [], ["--exclude-tag", "dev"]),
            ("dev API", ["--dev"], ["--include-tag", "dev"]),
        ]:
            data_dir = os.path.join(tmp, name.split()[0].lower())
            os.makedirs(data_dir)
            server = Server(data_dir, database, *flags)
            try:
                graph = server.token()
                partner = server.token("--partner", PARTNER)
                create_connection(server, graph)
                print(f"== schemathesis: {name} ({server.url})", flush=True)
                code = schemathesis(st, config, server, graph, partner, *select)
            finally:
                server.stop()
            if code != 0:
                failed += 1
                with open(server.log.name) as log:
                    tail = log.read()[-4000:]
                print(f"-- server log, last lines:\n{tail}", file=sys.stderr)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
