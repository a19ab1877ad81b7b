"""A throwaway cloudpc-partners stand-in for tests, and the binary this wheel carries.

    from cloudpc_partners import StandIn

    with StandIn() as graph:
        token = graph.token("72f988bf-86f1-41af-91ab-2d7cd011db47")
        ...  # call graph.base_url, or run an unchanged app with graph.env

The stand-in runs in dev mode, in memory, over HTTPS with its development CA
(`ca_file`), with its intercepting proxy on, so an app reaches it as
graph.microsoft.com with only `env` set. The pytest plugin (`graph_stand_in`,
`graph_tenant`) is built on this class.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import sys
import sysconfig
import tempfile
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

__all__ = ["StandIn", "binary"]

GRAPH_SET = "/deviceManagement/virtualEndpoint/externalPartners"


def binary() -> str:
    """The path of the cloudpc-partners binary: the one this wheel installed beside
    the interpreter, else CLOUDPC_PARTNERS_BIN, else the first on PATH."""
    name = "cloudpc-partners.exe" if os.name == "nt" else "cloudpc-partners"
    beside = Path(sysconfig.get_path("scripts")) / name
    if beside.exists():
        return str(beside)
    if os.environ.get("CLOUDPC_PARTNERS_BIN"):
        return os.environ["CLOUDPC_PARTNERS_BIN"]
    found = shutil.which("cloudpc-partners")
    if found:
        return found
    raise FileNotFoundError("the cloudpc-partners binary is not installed (pip install cloudpc-partners)")


class StandIn:
    """A running stand-in: started by `start()` (or `with`), stopped by `stop()`."""

    def __init__(self, *extra_args: str, database: Optional[str] = None):
        self._extra = list(extra_args)
        self._database = database
        self._process: Optional[subprocess.Popen] = None
        self._dir: Optional[tempfile.TemporaryDirectory] = None
        self.origin = ""
        self.proxy = ""
        self.data_dir = ""

    # Life cycle -------------------------------------------------------------------

    def start(self) -> "StandIn":
        self._dir = tempfile.TemporaryDirectory(prefix="cloudpc-stand-in-")
        self.data_dir = self._dir.name
        args = [binary(), "serve", "--listen", "127.0.0.1:0", "--data-dir", self.data_dir, "--dev",
                "--tls-dev", "--proxy-listen", "127.0.0.1:0", "--no-throttling", "--shutdown-grace", "2s"]
        args += ["--database", self._database] if self._database else ["--in-memory"]
        args += self._extra
        # Never a database, proxy or CA inherited from the caller's environment.
        env = {k: v for k, v in os.environ.items() if k not in _INHERITED}
        env.setdefault("RUST_LOG", "warn")
        self._process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, text=True)
        assert self._process.stdout is not None
        listening = self._process.stdout.readline().strip()
        proxying = self._process.stdout.readline().strip()
        if not listening.startswith("listening on ") or not proxying.startswith("proxying on http://"):
            self.stop()
            raise RuntimeError(f"cloudpc-partners did not start: {listening!r} {proxying!r}")
        self.origin = listening.removeprefix("listening on ")
        self.proxy = proxying.removeprefix("proxying on http://")
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
            self._process = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> "StandIn":
        return self.start()

    def __exit__(self, *_: Any) -> None:
        self.stop()

    # What a test needs ------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The Graph root, such as https://127.0.0.1:PORT/beta."""
        return f"{self.origin}/beta"

    @property
    def ca_file(self) -> str:
        """The development CA the stand-in's certificates chain to."""
        return str(Path(self.data_dir) / "tls" / "dev-ca.pem")

    @property
    def env(self) -> Dict[str, str]:
        """The environment an unchanged app needs: the proxy and the CA, as
        `cloudpc-partners env` prints them."""
        out = subprocess.run([binary(), "env", "--data-dir", self.data_dir, "--proxy", self.proxy],
                             check=True, capture_output=True, text=True).stdout
        found = {}
        for line in out.splitlines():
            name, _, value = line.removeprefix("export ").partition("=")
            found[name] = value.strip("'")
        return found

    def token(self, tenant: str, *, app: bool = False, scopes: Optional[Iterable[str]] = None,
              partner: Optional[str] = None) -> str:
        """A token for `tenant`: delegated with CloudPC.ReadWrite.All by default,
        application with `app=True`, or a partner credential with `partner=`."""
        args = [binary(), "token", "--data-dir", self.data_dir, "--tenant", str(tenant),
                "--scopes", " ".join(scopes or ["CloudPC.ReadWrite.All"])]
        if app:
            args.append("--app")
        if partner:
            args += ["--partner", str(partner)]
        return subprocess.run(args, check=True, capture_output=True, text=True).stdout.strip()

    # The dev API, for the token's tenant --------------------------------------------

    def call(self, method: str, path: str, tenant: str, body: Any = None) -> Any:
        """Calls the stand-in with an admin token for `tenant`; the JSON answer."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.origin + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token(tenant)}",
            "Content-Type": "application/json",
        })
        context = ssl.create_default_context(cafile=self.ca_file)
        try:
            with urllib.request.urlopen(req, context=context) as res:
                text = res.read()
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"{method} {path}: {e.code} {e.read().decode(errors='replace')}") from None
        return json.loads(text) if text else None

    def seed(self, tenant: str, connections: List[Dict[str, Any]]) -> List[str]:
        """Adds connections in chosen states; their ids."""
        return self.call("POST", "/dev/v1/seed", tenant, {"connections": connections})["ids"]

    def reset(self, tenant: str) -> int:
        """Deletes the tenant's connections; how many there were."""
        return self.call("POST", "/dev/v1/reset", tenant, {})["deleted"]

    def clock(self, tenant: str, *, advance: Optional[str] = None, set: Optional[str] = None,
              reset: bool = False) -> Dict[str, Any]:
        """Reads or moves the stand-in's clock (`advance="90m"`, `set="2026-12-01T00:00:00Z"`)."""
        if advance is None and set is None and not reset:
            return self.call("GET", "/dev/v1/clock", tenant)
        body = {"advance": advance} if advance else {"set": set} if set else {"reset": True}
        return self.call("POST", "/dev/v1/clock", tenant, body)

    def faults(self, tenant: str, settings: Optional[Dict[str, Any]]) -> Any:
        """Sets fault injection (`{"errorRate": 1, "errors": [503]}`), or clears it with None."""
        if settings is None:
            return self.call("DELETE", "/dev/v1/faults", tenant)
        return self.call("POST", "/dev/v1/faults", tenant, settings)

    def journal(self, tenant: str, path: Optional[str] = None, top: int = 100) -> List[Dict[str, Any]]:
        """The tenant's recent requests, oldest first."""
        query = f"?top={top}" + (f"&path={urllib.request.quote(path)}" if path else "")
        return self.call("GET", "/dev/v1/journal" + query, tenant)["value"]

    @staticmethod
    def new_tenant() -> str:
        return str(uuid.uuid4())


_INHERITED = {
    "DATABASE_URL", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy",
    "CLOUDPC_PARTNERS_DATA_DIR", "CLOUDPC_PARTNERS_LISTEN", "CLOUDPC_PARTNERS_DEV",
}

if sys.version_info < (3, 9):  # pragma: no cover
    raise ImportError("cloudpc-partners needs Python 3.9 or later")
