"""scim/quirks.py: each IdP oddity read one way, wherever it arrives."""

from __future__ import annotations

from typing import Any

import pytest

from scim import quirks


@pytest.mark.parametrize(
    ("sent", "read"),
    [
        (True, True),
        (False, False),
        ("True", True),
        ("false", False),
        (" FALSE ", False),
        ("yes", None),
        ("1", None),
        (1, None),
        (0, None),
        (None, None),
        ("", None),
    ],
)
def test_booleans_as_entra_sends_them_and_nothing_looser(sent: Any, read: bool | None) -> None:
    assert quirks.boolean(sent) is read
    assert quirks.as_boolean(sent) == (sent if read is None else read)


@pytest.mark.parametrize(
    ("sent", "read"),
    [
        ("u-1", {"value": "u-1"}),
        ({"value": "u-1", "displayName": "Boss"}, {"value": "u-1", "displayName": "Boss"}),
        (None, None),
        (7, 7),
    ],
)
def test_entras_bare_manager_id_is_a_reference(sent: Any, read: Any) -> None:
    assert quirks.reference(sent) == read


@pytest.mark.parametrize(
    ("sent", "read"),
    [("add", "add"), ("Replace", "replace"), ("REMOVE", "remove"), ("move", None), (None, None)],
)
def test_operation_names_in_any_case(sent: Any, read: str | None) -> None:
    assert quirks.operation(sent) == read


def test_entras_stringified_app_role() -> None:
    sent = '{"id":"06b0","value":"Admin","displayName":"Heap Admin"}'
    assert quirks.app_role(sent) == {"id": "06b0", "value": "Admin", "displayName": "Heap Admin"}
    assert quirks.app_role("Admin") is None
    assert quirks.app_role("{not json") is None
    assert quirks.app_role("[1]") is None
    # Nested past Python's recursion limit: not a role object, and never a RecursionError.
    assert quirks.app_role('{"value": ' + "[" * 1_500 + "]" * 1_500 + "}") is None
    assert quirks.app_role('{"value": ' + "[" * 50_000 + "]" * 50_000 + "}") is None
