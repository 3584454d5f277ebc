"""/metrics after real SCIM traffic: the request, SCIM outcome, rate-limit and database counters
move, by route template; and who may read it."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from app import create_app
from heap.errors import Invalid
from heap.services import audit, scim_settings
from heap.transaction import Attempt, unit_of_work
from tests.conftest import TEST_SECRET_KEY, json_of
from tests.factories import scim_account

PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER = {"userName": "ada@example.com", "name": {"givenName": "Ada", "familyName": "L"}}


def scrape(
    client: FlaskClient, **headers: str
) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_counters_move_with_scim_traffic(client: FlaskClient) -> None:
    _, token = scim_account()
    auth = {"Authorization": f"Bearer {token}"}
    before = scrape(client)

    created = client.post("/scim/v2/Users", json=USER, headers=auth)
    duplicate = client.post("/scim/v2/Users", json=USER, headers=auth)
    group = client.post("/scim/v2/Groups", json={"displayName": "Eng"}, headers=auth)
    unknown_member = {"op": "add", "path": "members", "value": [{"value": "no-such-user"}]}
    patched = client.patch(
        f"/scim/v2/Groups/{json_of(group)['id']}",
        json={"schemas": [PATCH_URN], "Operations": [unknown_member]},
        headers=auth,
    )
    read = client.get(f"/scim/v2/Users/{json_of(created)['id']}", headers=auth)
    assert [r.status_code for r in (created, duplicate, group, patched, read)] == [
        201,
        409,
        201,
        204,
        200,
    ]
    after = scrape(client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "heap_http_requests_total"
    assert moved(requests, route="/scim/v2/Users", method="POST", status="201") == 1
    assert moved(requests, route="/scim/v2/Users", method="POST", status="409") == 1
    # The route template, never the raw path with the id in it.
    assert moved(requests, route="/scim/v2/Users/<scim_id>", method="GET", status="200") == 1
    assert moved(requests, route="/scim/v2/Groups/<group_id>", method="PATCH", status="204") == 1
    routes = {dict(labels).get("route") or "" for _, labels in after}
    templates = {rule.rule for rule in client.application.url_map.iter_rules()}
    assert [
        route for route in routes if route.startswith("/scim/v2/Users/") and route not in templates
    ] == []
    latency = "heap_http_request_duration_seconds_count"
    assert moved(latency, route="/scim/v2/Users", method="POST") == 2

    operations = "heap_scim_operations_total"
    assert moved(operations, resource="user", operation="user.provision", outcome="applied") == 1
    assert moved(operations, resource="user", operation="user.provision", outcome="refused") == 1
    assert moved(operations, resource="team", operation="team.create", outcome="applied") == 1
    # An unknown id is counted in the one skip event a push writes, on the team.
    assert moved(operations, resource="team", operation="team.add_member", outcome="skipped") == 1


def test_an_event_rolled_back_is_not_counted(client: FlaskClient) -> None:
    """An IdP change whose event was written and then rolled back (a later step refused it)
    counts as the refusal it became, not as applied."""
    account, token = scim_account()
    _, idp = scim_settings.authenticate(raw_token=token)
    before = scrape(client)
    attempt = Attempt(account.id, idp, "user.update", "user", "some-id")
    with pytest.raises(Invalid), unit_of_work(attempt):
        audit.record(account.id, idp, "user.update", audit.Target("user", "some-id"))
        raise Invalid("A later check refused the change.")
    after = scrape(client)

    def moved(outcome: str) -> float:
        labels = {"resource": "user", "operation": "user.update", "outcome": outcome}
        name = "heap_scim_operations_total"
        return value(after, name, **labels) - value(before, name, **labels)

    assert (moved("applied"), moved("refused")) == (0, 1)


def test_rate_limit_refusals_are_counted(app: Flask) -> None:
    limited = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "SECRET_KEY": TEST_SECRET_KEY,
            "SCIM_RATE_LIMIT": "1 per minute",
        }
    )
    client = limited.test_client()
    _, token = scim_account()
    name = "heap_rate_limit_refusals_total"
    before = value(scrape(client), name, route="/scim/v2/Users")
    statuses = [
        client.get("/scim/v2/Users", headers={"Authorization": f"Bearer {token}"}).status_code
        for _ in range(3)
    ]
    assert statuses == [200, 429, 429]
    assert value(scrape(client), name, route="/scim/v2/Users") - before == 2


def test_database_errors_are_counted(tmp_path: Path) -> None:
    unmigrated = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": TEST_SECRET_KEY,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'empty.db'}",
        }
    )
    client = unmigrated.test_client()
    name = "heap_database_errors_total"
    labels = {"kind": "other", "error": "OperationalError"}  # SQLite: "no such table"
    before = value(scrape(client), name, **labels)
    response = client.get("/scim/v2/Users", headers={"Authorization": "Bearer heapscim_x"})
    assert response.status_code == 500
    assert value(scrape(client), name, **labels) - before == 1


def test_metrics_are_for_local_scrapers_or_token_holders(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/metrics").status_code == 200  # the test client is 127.0.0.1
    through_proxy = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert through_proxy.status_code == 403
    assert through_proxy.headers["Content-Type"] == "application/json"
    # nginx's plain proxy_pass sends neither X-Forwarded-For nor Forwarded; many add X-Real-IP.
    assert client.get("/metrics", headers={"X-Real-IP": "203.0.113.9"}).status_code == 403
    remote = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert remote.status_code == 403

    guarded = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": TEST_SECRET_KEY,
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "METRICS_TOKEN": "scrape-secret",
        }
    ).test_client()
    assert guarded.get("/metrics").status_code == 403
    assert guarded.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    # Not ASCII: compare_digest would raise on such a str, a 500 instead of a 403.
    accented = {"Authorization": "Bearer caf\u00e9".encode().decode("latin-1")}
    assert guarded.get("/metrics", headers=accented).status_code == 403
    remote_with_token = guarded.get(
        "/metrics",
        headers={"Authorization": "Bearer scrape-secret"},
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )
    assert remote_with_token.status_code == 200
