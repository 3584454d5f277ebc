"""Okta retrying a timed-out create while the first attempt is still running (checklist item 23):
several POST /Users for one userName at once, against gunicorn with 4 worker processes. The
unique index on (account, lower(userName)) decides; the losers get Okta's 409, never a 5xx.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from heap.extensions import db
from heap.models import ScimIdentity, User
from tests.factories import scim_account

pytestmark = pytest.mark.e2e

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"
CLIENTS = 8


def _okta_create(user_name: str) -> dict[str, Any]:
    # Okta's create body (idp-behaviour.md §1.2); the userName's case differs per attempt below.
    return {
        "schemas": [USER_URN],
        "userName": user_name,
        "name": {"givenName": "Race", "familyName": "Condition"},
        "emails": [{"primary": True, "value": user_name, "type": "work"}],
        "displayName": "Race Condition",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [],
        "password": "1mz050nq",
        "active": True,
    }


def test_concurrent_creates_of_one_user_make_one_user_and_409s(live_server: str) -> None:
    account, token = scim_account()
    account_id = account.id
    db.session.commit()
    url = f"{live_server}/scim/v2/Users"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    start = threading.Barrier(CLIENTS)
    responses: list[tuple[str, requests.Response]] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def client(k: int) -> None:
        try:
            # Matching is case-insensitive: differently cased retries are the same user.
            user_name = "race@example.com" if k % 2 else "Race@Example.com"
            start.wait(timeout=60)
            response = requests.post(url, json=_okta_create(user_name), headers=headers, timeout=60)
            with lock:
                responses.append((user_name, response))
        except BaseException as error:  # reported by the main thread, not lost in this one
            failures.append(error)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    statuses = sorted(r.status_code for _, r in responses)
    assert statuses == [201] + [409] * (CLIENTS - 1)
    created = next(r.json() for _, r in responses if r.status_code == 201)
    for user_name, refused in ((n, r) for n, r in responses if r.status_code == 409):
        # The detail names the check the loser met: the userName lookup (after the winner
        # committed), the email check in between, or the unique index itself (mid-race).
        details = {
            f"{user_name} is already a user of this Heap account (id {created['id']}). Okta "
            "links to existing users found by userName; re-run the import to link it.",
            f"{user_name} is already a teammate in this Heap account.",
            "This conflicts with a change made at the same time. Retry the request.",
        }
        body = refused.json()
        assert refused.headers["Content-Type"] == "application/scim+json"
        assert body["detail"] in details
        assert body == {
            "schemas": [ERROR_URN],
            "status": "409",
            "scimType": "uniqueness",
            "detail": body["detail"],
        }
    db.session.expire_all()
    users = db.session.scalar(select(func.count()).where(User.account_id == account_id))
    identities = db.session.scalar(
        select(func.count()).where(ScimIdentity.account_id == account_id)
    )
    assert (users, identities) == (1, 1)
