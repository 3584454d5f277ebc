"""The operator CLI through Flask's runner: results on stdout only, refusals as one stderr line."""

from __future__ import annotations

import json
from typing import cast

import pytest
from click.testing import Result
from flask import Flask
from sqlalchemy import select

from heap import tokens
from heap.errors import Unauthenticated
from heap.extensions import db
from heap.models import Account, AuditEvent, User
from heap.services import accounts, lifecycle, roles, scim_settings, users
from tests.factories import AccountFactory, UserFactory


def _run(app: Flask, *args: str) -> Result:
    result = app.test_cli_runner().invoke(args=list(args))
    db.session.expire_all()
    return result


def _ok(app: Flask, *args: str) -> str:
    result = _run(app, *args)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    assert result.stderr == ""
    return result.stdout


def _refused(app: Flask, *args: str) -> str:
    result = _run(app, *args)
    assert result.exit_code != 0
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def test_accounts_create_prints_only_the_id(app: Flask) -> None:
    out = _ok(
        app, "accounts", "create", "Initech", "--plan", "premier", "--sso", "--admin", "b@i.co"
    )
    assert out.strip().isdigit() and out == out.strip() + "\n"
    account = _account(int(out))
    assert (account.name, account.plan, account.sso_configured) == ("Initech", "premier", True)
    admin = lifecycle.find_active_by_email(email="b@i.co")
    assert admin is not None and admin.account_id == account.id and admin.is_admin
    plain = _ok(app, "accounts", "create", "Hooli", "--plan", "growth")
    hooli = _account(int(plain))
    assert (hooli.plan, hooli.sso_configured, users.count_active_admins(account=hooli)) == (
        "growth",
        False,
        0,
    )


def test_accounts_set_plan_by_id_and_by_name(app: Flask) -> None:
    account = cast(Account, AccountFactory.create(name="Globex", plan="free"))
    _ok(app, "accounts", "set-plan", str(account.id), "pro")
    assert _account(account.id).plan == "pro"
    _ok(app, "accounts", "set-plan", "Globex", "PREMIER")
    assert _account(account.id).plan == "premier"


def test_scim_enable_prints_only_a_working_token(app: Flask) -> None:
    account = cast(Account, AccountFactory.create(name="Umbrella"))
    out = _ok(app, "scim", "enable", "Umbrella", "--default-role", "Consumer")
    token = out.strip()
    assert out == token + "\n" and token.startswith(tokens.SCIM_TOKEN_PREFIX)
    found, _ = scim_settings.authenticate(raw_token=token)
    assert found.id == account.id
    assert found.scim_default_role is not None
    assert found.scim_default_role.name == "Consumer"


def test_scim_rotate_token_keeps_the_old_one(app: Flask) -> None:
    AccountFactory.create(name="Umbrella")
    old = _ok(app, "scim", "enable", "Umbrella", "--default-role", "Analyst").strip()
    new = _ok(app, "scim", "rotate-token", "Umbrella").strip()
    assert new != old
    assert scim_settings.authenticate(raw_token=old)[0].name == "Umbrella"
    assert scim_settings.authenticate(raw_token=new)[0].name == "Umbrella"


def test_users_token_verifies_and_is_audited(app: Flask) -> None:
    """Seen: `flask users token` minted a 12-hour (Admin) token without an audit event."""
    user = cast(User, UserFactory.create(email="v@example.com"))
    token = _ok(app, "users", "token", "V@example.com").strip()
    claim = tokens.read_viewer_token(app.config["SECRET_KEY"], token, max_age=60)
    assert claim == tokens.ViewerClaim(user_id=user.id, session_generation=0)
    [event] = _events("user.viewer_token")
    assert (event.account_id, event.actor_label, event.target_label, event.details) == (
        user.account_id,
        "operator (cli)",
        "v@example.com",
        {"valid_for_seconds": 43200},
    )
    assert "No active teammate" in _refused(app, "users", "token", "nobody@example.com")


def _account(account_id: int) -> Account:
    db.session.expire_all()
    return db.session.get_one(Account, account_id)


def _events(action: str) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    return list(db.session.scalars(query))


@pytest.fixture
def development(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """As under `make run`: the default SQLite file, where the demo may run again and again."""
    monkeypatch.setitem(app.config, "DEVELOPMENT", True)


@pytest.mark.usefixtures("development")
def test_demo_is_idempotent_and_revokes_its_earlier_tokens(app: Flask) -> None:
    first = json.loads(_ok(app, "demo", "--json"))
    second = json.loads(_ok(app, "demo", "--json"))
    keys = {"account_id", "scim_token", "viewer_token", "scim_base_url", "graphql_url"}
    assert set(first) == set(second) == keys
    assert first["account_id"] == second["account_id"]
    assert first["scim_base_url"] == "http://localhost/scim/v2"
    assert first["graphql_url"] == "http://localhost/graphql"
    assert db.session.query(Account).count() == 1
    account = _account(first["account_id"])
    assert users.count_active_admins(account=account) == 1
    # Each run mints one token and revokes the demo's earlier ones: one live token, the last.
    assert scim_settings.authenticate(raw_token=second["scim_token"])[0].id == account.id
    with pytest.raises(Unauthenticated, match="revoked"):
        scim_settings.authenticate(raw_token=first["scim_token"])
    admin = lifecycle.find_active_by_email(email="admin@acme.example")
    assert admin is not None
    viewer = tokens.read_viewer_token(app.config["SECRET_KEY"], second["viewer_token"], max_age=60)
    assert viewer is not None and viewer.user_id == admin.id
    text = _ok(app, "demo")
    assert "http://localhost/scim/v2" in text and "heapscim_" in text
    assert db.session.query(Account).count() == 1
    assert [t.is_active for t in scim_settings.list_tokens(account=account)] == [True, False, False]
    # Everything the demo did is in the log, as the demo.
    assert {e.actor_label for e in _events("scim.revoke_token")} == {"operator (demo)"}
    assert len(_events("scim.revoke_token")) == 2
    assert len(_events("user.viewer_token")) == 3


@pytest.mark.usefixtures("development")
def test_demo_leaves_tokens_it_did_not_mint(app: Flask) -> None:
    first = json.loads(_ok(app, "demo", "--json"))
    operators = _ok(app, "scim", "rotate-token", "Acme").strip()
    json.loads(_ok(app, "demo", "--json"))
    assert scim_settings.authenticate(raw_token=operators)[0].id == first["account_id"]


def test_demo_refuses_a_database_that_is_not_a_demo_one(app: Flask) -> None:
    """Seen: `flask demo` pointed at a real database rewrote any account named Acme."""
    real = cast(Account, AccountFactory.create(name="Acme", plan="growth", sso_configured=False))
    line = _refused(app, "demo")
    assert "not a development database" in line and "--force" in line
    db.session.expire_all()
    assert (real.plan, real.sso_configured, real.scim_enabled) == ("growth", False, False)
    assert _events("account.set_plan") == []
    # --force is the operator saying they mean it.
    forced = json.loads(_ok(app, "demo", "--json", "--force"))
    assert forced["account_id"] == real.id


def test_demo_runs_on_an_empty_database(app: Flask) -> None:
    created = json.loads(_ok(app, "demo", "--json"))
    assert _account(created["account_id"]).name == "Acme"
    assert _refused(app, "demo").startswith("Error: This is not a development database")


@pytest.mark.usefixtures("development")
def test_demo_repairs_a_downgraded_account(app: Flask) -> None:
    first = json.loads(_ok(app, "demo", "--json"))
    account = _account(first["account_id"])
    account.plan = "free"
    db.session.commit()
    again = json.loads(_ok(app, "demo", "--json"))
    assert scim_settings.authenticate(raw_token=again["scim_token"])[0].plan == "premier"


@pytest.mark.parametrize(
    "args",
    [
        ("accounts", "set-plan", "Nope", "pro"),
        ("accounts", "set-plan", "999999", "pro"),
        ("accounts", "set-plan", "Globex", "platinum"),
        ("accounts", "create", "Globex", "--plan", "premier"),
        ("accounts", "create", "Other", "--plan", "gold"),
        # A refused first Admin leaves no account behind.
        ("accounts", "create", "Foo", "--plan", "premier", "--sso", "--admin", "not-an-email"),
        ("scim", "enable", "Nope", "--default-role", "Analyst"),
        ("scim", "enable", "Globex", "--default-role", "Owner"),
        ("scim", "enable", "Freebie", "--default-role", "Analyst"),
        ("scim", "rotate-token", "Globex"),
    ],
)
def test_wrong_input_is_one_line_on_stderr(app: Flask, args: tuple[str, ...]) -> None:
    AccountFactory.create(name="Globex", plan="premier")
    AccountFactory.create(name="Freebie", plan="growth")
    _refused(app, *args)
    assert db.session.query(Account).count() == 2
    for name in ("Globex", "Freebie"):
        account = accounts.get_by_ref(ref=name)
        assert not account.scim_enabled
        assert scim_settings.list_tokens(account=account) == []
    assert accounts.get_by_ref(ref="Globex").plan == "premier"
    assert roles.get_by_name(account=accounts.get_by_ref(ref="Globex"), name="Owner") is None


def test_scim_enable_on_a_non_premier_account_names_the_plan(app: Flask) -> None:
    AccountFactory.create(name="Freebie", plan="growth")
    assert "Premier" in _refused(app, "scim", "enable", "Freebie", "--default-role", "Analyst")


def test_scim_enable_names_every_missing_requirement_on_one_line(app: Flask) -> None:
    AccountFactory.create(name="Hooli", plan="growth", sso_configured=False)
    line = _refused(app, "scim", "enable", "Hooli", "--default-role", "Analyst")
    assert "Premier" in line and "single sign-on" in line
    assert line.index("Premier") < line.index("single sign-on")
