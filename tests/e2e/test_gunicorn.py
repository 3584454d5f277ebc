"""gunicorn.conf.py under a real gunicorn: JSON for the errors gunicorn answers itself, a request
line that fits the SCIM filter limit, one access line per request, metrics summed over workers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from scim.filters import MAX_FILTER_LENGTH
from tests.factories import scim_account

# gunicorn's own behaviour does not depend on the database: SQLite is enough.
pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("backend", ["sqlite"], indirect=True)]
ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"


@pytest.fixture
def live_server_workers() -> int:
    return 3


@pytest.fixture
def live_server_env() -> Mapping[str, str]:
    return {"LOG_LEVEL": "INFO"}


def _assert_gunicorn_json(response: requests.Response, status: int, code: str) -> None:
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    # Readable by either door's client: SCIM Error members and a GraphQL errors list.
    assert (body["schemas"], body["status"]) == ([ERROR_URN], str(status))
    assert body["detail"] == body["errors"][0]["message"]
    assert body["errors"][0]["extensions"]["code"] == code


def test_errors_gunicorn_answers_itself_are_json(app: object, live_server: str) -> None:
    too_long = requests.get(f"{live_server}/scim/v2/Users?filter={'a' * 9000}", timeout=30)
    _assert_gunicorn_json(too_long, 414, "URI_TOO_LONG")
    assert "8190 bytes" in too_long.json()["detail"]
    huge_header = requests.get(f"{live_server}/healthz", headers={"X-Big": "a" * 9000}, timeout=30)
    _assert_gunicorn_json(huge_header, 431, "HEADERS_TOO_LARGE")
    many_headers = {f"X-H{i}": "v" for i in range(120)}
    _assert_gunicorn_json(
        requests.get(f"{live_server}/healthz", headers=many_headers, timeout=30),
        431,
        "HEADERS_TOO_LARGE",
    )


def test_a_filter_of_the_advertised_length_fits_the_request_line(
    app: object, live_server: str
) -> None:
    _, token = scim_account()
    # Okta's own shape, as long as the filter limit allows; requests percent-encodes it.
    name = "a" * (MAX_FILTER_LENGTH - len('userName eq ""'))
    filter_text = f'userName eq "{name}"'
    assert len(filter_text) == MAX_FILTER_LENGTH
    response = requests.get(
        f"{live_server}/scim/v2/Users",
        params={"filter": filter_text},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.json()["totalResults"] == 0


def test_one_json_access_line_per_request_and_none_from_gunicorn(
    app: object, live_server: str, tmp_path: Path
) -> None:
    _, token = scim_account()
    paths = ["/healthz", "/scim/v2/Users?count=1", "/nope", "/scim/v2/Groups?startIndex=1"]
    for path in paths:
        requests.get(
            f"{live_server}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
    lines = [json.loads(line) for line in (tmp_path / "gunicorn.log").read_text().splitlines()]
    access = [line for line in lines if line["logger"] == "ops.access"]
    assert [line["path"] for line in access] == paths
    assert [line["status"] for line in access] == [200, 200, 404, 200]
    assert all(line["request_id"] and line["duration_ms"] >= 0 for line in access)
    assert {line["who"] for line in access[1::2]} == {f"scim:{token[:15]}"}
    assert not [line for line in lines if line["logger"] == "gunicorn.access"]


def test_metrics_add_up_every_worker(app: object, live_server: str) -> None:
    requests_sent = 24

    def ping(_: int) -> int:
        # A new connection each time, from several threads: the requests spread over workers.
        return requests.get(
            f"{live_server}/healthz", headers={"Connection": "close"}, timeout=30
        ).status_code

    with ThreadPoolExecutor(6) as pool:
        assert set(pool.map(ping, range(requests_sent))) == {200}
    scraped = requests.get(f"{live_server}/metrics", timeout=30)
    assert scraped.status_code == 200
    served = {
        sample.labels["status"]: sample.value
        for family in text_string_to_metric_families(scraped.text)
        for sample in family.samples
        if sample.name == "heap_http_requests_total" and sample.labels["route"] == "/healthz"
    }
    assert served == {"200": requests_sent}
