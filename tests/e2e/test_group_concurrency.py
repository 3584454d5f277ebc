"""Several IdP connections PATCHing one group at once, against gunicorn with 4 worker processes:
no membership is lost and no request fails (SQLite: WAL + busy timeout; PostgreSQL: ON CONFLICT).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, cast

import pytest
import requests
from sqlalchemy import select

from heap.extensions import db
from heap.models import ScimIdentity, Team, TeamMembership, User
from tests.factories import TeamFactory, TeamMembershipFactory, UserFactory, scim_account

pytestmark = pytest.mark.e2e

PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
CLIENTS = 4
PER_CLIENT = 12  # one-by-one swaps per client, as Okta pushes them
BATCH = 16  # members per client added in one PATCH, half then removed in another


def _patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_URN], "Operations": list(operations)}


def _ids(users: Sequence[User]) -> list[str]:
    return [u.scim_identity.id for u in users]


@pytest.fixture
def group_setup(app: Any) -> dict[str, Any]:
    account, token = scim_account()

    def users(n: int) -> list[User]:
        return [cast(User, UserFactory.create(account=account)) for _ in range(n)]

    keep = users(5)
    leaving = [users(PER_CLIENT) for _ in range(CLIENTS)]
    joining = [users(PER_CLIENT) for _ in range(CLIENTS)]
    batches = [users(BATCH) for _ in range(CLIENTS)]
    team = cast(Team, TeamFactory.create(account=account, name="Concurrency", scim_managed=True))
    for user in keep + [u for group in leaving for u in group]:
        TeamMembershipFactory.create(team=team, user=user)
    return {
        "token": token,
        "team_id": team.id,
        "group_id": team.scim_id,
        "name": team.name,
        "keep": _ids(keep),
        "leaving": [_ids(g) for g in leaving],
        "joining": [_ids(g) for g in joining],
        "batches": [_ids(g) for g in batches],
    }


def test_concurrent_patches_lose_no_membership(
    group_setup: dict[str, Any], live_server: str
) -> None:
    setup = group_setup
    url = f"{live_server}/scim/v2/Groups/{setup['group_id']}"
    headers = {
        "Authorization": f"Bearer {setup['token']}",
        "Content-Type": "application/scim+json",
    }
    start = threading.Barrier(CLIENTS)
    statuses: list[list[int]] = [[] for _ in range(CLIENTS)]
    failures: list[BaseException] = []

    def client(k: int) -> None:
        try:
            with requests.Session() as http:

                def send(body: dict[str, Any]) -> None:
                    response = http.patch(url, json=body, headers=headers, timeout=60)
                    statuses[k].append(response.status_code)

                start.wait(timeout=60)
                for leaving, joining in zip(setup["leaving"][k], setup["joining"][k], strict=True):
                    # Okta repeats the group's name before each membership push (§1.10).
                    rename = {"id": setup["group_id"], "displayName": setup["name"]}
                    send(_patch({"op": "replace", "value": rename}))
                    send(
                        _patch(
                            {"op": "remove", "path": f'members[value eq "{leaving}"]'},
                            {"op": "add", "path": "members", "value": [{"value": joining}]},
                        )
                    )
                batch = setup["batches"][k]
                send(
                    _patch({"op": "add", "path": "members", "value": [{"value": i} for i in batch]})
                )
                # Entra's removal form: a value list on path "members" removes only those.
                dropped = [{"value": i} for i in batch[::2]]
                send(_patch({"op": "Remove", "path": "members", "value": dropped}))
        except BaseException as error:  # reported by the main thread, not lost in this one
            failures.append(error)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert statuses == [[204] * (2 * PER_CLIENT + 2)] * CLIENTS
    expected = set(setup["keep"])
    for k in range(CLIENTS):
        expected |= set(setup["joining"][k]) | set(setup["batches"][k][1::2])
    db.session.expire_all()
    members = db.session.scalars(
        select(ScimIdentity.id)
        .join(TeamMembership, TeamMembership.user_id == ScimIdentity.user_id)
        .where(TeamMembership.team_id == setup["team_id"])
    )
    assert set(members) == expected
