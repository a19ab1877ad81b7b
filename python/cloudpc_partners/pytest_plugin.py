"""pytest fixtures for tests against a cloudpc-partners stand-in.

- `graph_stand_in` (session): one stand-in for the session (one per worker under
  pytest-xdist), started on free ports and stopped at the end. Set
  CLOUDPC_PARTNERS_DATABASE to run it on PostgreSQL instead of in memory.
- `graph_tenant` (function): a fresh tenant for each test, so tests never see each
  other's data and can run in parallel.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional

import pytest

from . import StandIn


@pytest.fixture(scope="session")
def graph_stand_in() -> Iterator[StandIn]:
    stand_in = StandIn(database=os.environ.get("CLOUDPC_PARTNERS_DATABASE") or None)
    stand_in.start()
    try:
        yield stand_in
    finally:
        stand_in.stop()


@dataclass
class GraphTenant:
    """A tenant of its own for one test, with the stand-in's helpers bound to it."""

    id: str
    stand_in: StandIn

    def token(self, *, app: bool = False, scopes: Optional[List[str]] = None,
              partner: Optional[str] = None) -> str:
        return self.stand_in.token(self.id, app=app, scopes=scopes, partner=partner)

    def seed(self, connections: List[Dict[str, Any]]) -> List[str]:
        return self.stand_in.seed(self.id, connections)

    def reset(self) -> int:
        return self.stand_in.reset(self.id)

    def journal(self, path: Optional[str] = None, top: int = 100) -> List[Dict[str, Any]]:
        return self.stand_in.journal(self.id, path, top)

    def __str__(self) -> str:
        return self.id


@pytest.fixture
def graph_tenant(graph_stand_in: StandIn) -> GraphTenant:
    return GraphTenant(StandIn.new_tenant(), graph_stand_in)
