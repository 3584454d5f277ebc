"""Operator commands: ``.venv/bin/flask --app app accounts|scim|users|demo ...``.

Deployment scripts parse this output: a command that succeeds prints exactly its result on
stdout; a refusal prints one line on stderr and exits 1.
"""

from __future__ import annotations

import functools
import json
import shlex
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from heap import tokens
from heap.actors import Operator
from heap.errors import Forbidden, HeapError
from heap.models import Plan
from heap.services import (
    accounts,
    domains,
    housekeeping,
    lifecycle,
    repair,
    roles,
    scim_settings,
    users,
)

P = ParamSpec("P")
R = TypeVar("R")

OPERATOR = Operator()
# The demo's own actor: its audit events say so, and its SCIM tokens are told apart by it.
DEMO_OPERATOR = Operator("demo")
DEMO_ACCOUNT = "Acme"
DEMO_ADMIN = "admin@acme.example"
DEMO_DEFAULT_ROLE = "Analyst"

accounts_cli = AppGroup(
    "accounts", help="Create accounts, change their plan, and verify their email domains."
)
scim_cli = AppGroup("scim", help="Enable SCIM and manage SCIM tokens.")
users_cli = AppGroup("users", help="Teammates and their viewer tokens.")
data_cli = AppGroup("data", help="Find and repair stored data.")
audit_cli = AppGroup("audit", help="The audit log.")


def refusals_to_stderr(command: Callable[P, R]) -> Callable[P, R]:
    """A HeapError becomes one clear line on stderr (every reason, when there are several)
    and exit status 1."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except HeapError as error:
            click.echo("Error: " + " ".join(each.message for each in error.every()), err=True)
            raise SystemExit(1) from None

    return wrapper


@accounts_cli.command("create")
@click.argument("name")
@click.option("--plan", "plan_name", required=True, help="free, growth, pro or premier")
@click.option("--sso/--no-sso", default=False, help="Whether SSO is configured.")
@click.option("--admin", "admin_email", help="Invite this email as the first Admin.")
@refusals_to_stderr
def create_account(name: str, plan_name: str, sso: bool, admin_email: str | None) -> None:
    """Create an account with the built-in roles; prints its id."""
    plan = accounts.parse_plan(plan_name)
    # One transaction: a refused Admin email leaves no account behind.
    account = accounts.create(
        actor=OPERATOR,
        name=name,
        plan=plan,
        sso_configured=sso,
        admin_email=admin_email or None,
    )
    click.echo(account.id)


@accounts_cli.command("set-plan")
@click.argument("account_ref", metavar="ACCOUNT")
@click.argument("plan_name", metavar="PLAN")
@refusals_to_stderr
def set_plan(account_ref: str, plan_name: str) -> None:
    """Move an account to another plan."""
    plan = accounts.parse_plan(plan_name)
    account = accounts.get_by_ref(ref=account_ref)
    accounts.set_plan(account=account, actor=OPERATOR, plan=plan)
    click.echo(f"{account.name} is now on {plan.value}.")


@accounts_cli.command("configure-sso")
@click.argument("account_ref", metavar="ACCOUNT")
@click.option("--off", is_flag=True, help="Mark SSO as not configured.")
@refusals_to_stderr
def configure_sso(account_ref: str, off: bool) -> None:
    """Record that SSO is (or is no longer) configured for an account."""
    account = accounts.get_by_ref(ref=account_ref)
    accounts.configure_sso(account=account, actor=OPERATOR, configured=not off)
    click.echo(f"SSO {'not ' if off else ''}configured for {account.name}.")


@accounts_cli.command("verify-domain")
@click.argument("account_ref", metavar="ACCOUNT")
@click.argument("domain")
@refusals_to_stderr
def verify_domain(account_ref: str, domain: str) -> None:
    """Mark DOMAIN (and its subdomains) as the account's own: nobody else may add its addresses.

    Prints the domain as stored, then any active users of other accounts already at it (they
    keep their addresses until removed there).
    """
    account = accounts.get_by_ref(ref=account_ref)
    verified = domains.verify(account=account, actor=OPERATOR, domain=domain)
    click.echo(f"{verified.domain.domain} is verified for {account.name}.")
    for email, holder in verified.held_elsewhere:
        click.echo(f"held elsewhere: {email} ({holder})")


@accounts_cli.command("domains")
@click.argument("account_ref", metavar="ACCOUNT")
@refusals_to_stderr
def list_domains(account_ref: str) -> None:
    """Print the account's verified domains, one per line."""
    account = accounts.get_by_ref(ref=account_ref)
    for verified in domains.list_for(account=account):
        click.echo(verified.domain)


@accounts_cli.command("unverify-domain")
@click.argument("account_ref", metavar="ACCOUNT")
@click.argument("domain")
@refusals_to_stderr
def unverify_domain(account_ref: str, domain: str) -> None:
    """Remove a verified domain: its addresses are open to other accounts again."""
    account = accounts.get_by_ref(ref=account_ref)
    domains.unverify(account=account, actor=OPERATOR, domain=domain)
    click.echo(f"{domains.normalize(domain)} is no longer verified for {account.name}.")


@scim_cli.command("enable")
@click.argument("account_ref", metavar="ACCOUNT")
@click.option("--default-role", "role_ref", required=True, help="Role name (or id) for new users.")
@refusals_to_stderr
def enable_scim(account_ref: str, role_ref: str) -> None:
    """Enable SCIM; prints the new bearer token and nothing else."""
    account = accounts.get_by_ref(ref=account_ref)
    role = roles.get_by_ref(account=account, ref=role_ref)
    _, token = scim_settings.enable(account=account, actor=OPERATOR, default_role_id=role.id)
    click.echo(token)


@scim_cli.command("rotate-token")
@click.argument("account_ref", metavar="ACCOUNT")
@refusals_to_stderr
def rotate_token(account_ref: str) -> None:
    """Print a new SCIM token; earlier tokens keep working until revoked."""
    account = accounts.get_by_ref(ref=account_ref)
    _, token = scim_settings.rotate_token(account=account, actor=OPERATOR)
    click.echo(token)


@scim_cli.command("revoke-token")
@click.argument("account_ref", metavar="ACCOUNT")
@click.argument("prefix", metavar="PREFIX")
@refusals_to_stderr
def revoke_token(account_ref: str, prefix: str) -> None:
    """Revoke the SCIM token Heap shows as PREFIX (e.g. heapscim_AbC123); effective at once."""
    account = accounts.get_by_ref(ref=account_ref)
    token = housekeeping.revoke_scim_token(account=account, actor=OPERATOR, prefix=prefix)
    click.echo(f"Revoked SCIM token {token.prefix} of {account.name}.")


@scim_cli.command("prune-tokens")
@click.option("--older-than", "days", type=int, required=True, metavar="DAYS")
@refusals_to_stderr
def prune_tokens(days: int) -> None:
    """Delete SCIM tokens (of every account) revoked more than DAYS days ago."""
    deleted = housekeeping.prune_revoked_tokens(actor=OPERATOR, older_than_days=days)
    click.echo(f"Deleted {deleted} SCIM tokens revoked more than {days} days ago.")


@audit_cli.command("prune")
@click.option("--older-than", "days", type=int, required=True, metavar="DAYS")
@refusals_to_stderr
def prune_audit(days: int) -> None:
    """Delete audit events (of every account) older than DAYS days, in small batches."""
    deleted = housekeeping.prune_audit(actor=OPERATOR, older_than_days=days)
    click.echo(f"Deleted {deleted} audit events older than {days} days.")


@scim_cli.command("disable")
@click.argument("account_ref", metavar="ACCOUNT")
@refusals_to_stderr
def disable_scim(account_ref: str) -> None:
    """Disable SCIM: revoke every token and unlink teams; users stay."""
    account = accounts.get_by_ref(ref=account_ref)
    scim_settings.disable(account=account, actor=OPERATOR)
    click.echo(f"SCIM disabled for {account.name}.")


@users_cli.command("token")
@click.argument("email")
@refusals_to_stderr
def viewer_token(email: str) -> None:
    """Print a signed viewer token for the GraphQL API."""
    click.echo(_viewer_token(email))


@data_cli.command("repair-text")
@click.option("--dry-run", is_flag=True, help="Report what would change; change nothing.")
def repair_text(dry_run: bool) -> None:
    """Replace lone UTF-16 surrogates and NULs stored in JSON columns with U+FFFD."""
    for result in repair.repair_json_text(actor=OPERATOR, dry_run=dry_run):
        verb = "would be repaired" if dry_run else "repaired"
        click.echo(
            f"{result.column}: {result.rows} row(s) in {len(result.account_ids)} account(s) {verb}"
        )


@click.command("demo")
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of text.")
@click.option("--force", is_flag=True, help="Run against a database that is not a demo one.")
@refusals_to_stderr
def demo(as_json: bool, force: bool) -> None:
    """Make sure the Acme demo account exists with SCIM on; print URLs and fresh tokens.

    Runs on a development database (the default SQLite file, or HEAP_DEVELOPMENT set) or an
    empty one; anywhere else only with --force, as it creates or changes the account named Acme.
    The demo's earlier SCIM tokens are revoked: only the one printed works.
    """
    if not (force or current_app.config["DEVELOPMENT"] or not accounts.any_exist()):
        raise Forbidden(
            "This is not a development database (DATABASE_URL is set) and it holds accounts: "
            f"`flask demo` would create or change the account named {DEMO_ACCOUNT} and mint "
            "tokens for it. Point it at a development database, or pass --force."
        )
    actor = DEMO_OPERATOR
    account = accounts.find_by_name(name=DEMO_ACCOUNT) or accounts.create(
        actor=actor, name=DEMO_ACCOUNT, plan=Plan.PREMIER, sso_configured=True
    )
    if not account.is_premier:
        accounts.set_plan(account=account, actor=actor, plan=Plan.PREMIER)
    if not account.sso_configured:
        accounts.configure_sso(account=account, actor=actor, configured=True)
    if lifecycle.find_identity(account=account, user_name=DEMO_ADMIN) is None:
        admin = roles.get_by_ref(account=account, ref="Admin")
        users.invite(
            account=account,
            actor=actor,
            email=DEMO_ADMIN,
            role_id=admin.id,
            given_name="Acme",
            family_name="Admin",
        )
    if account.scim_enabled:
        token, scim_token = scim_settings.rotate_token(account=account, actor=actor)
        for earlier in scim_settings.list_tokens(account=account):
            if earlier.is_active and earlier.id != token.id and earlier.created_by == actor.label:
                scim_settings.revoke_token(account=account, actor=actor, token_id=earlier.id)
    else:
        role = roles.get_by_ref(account=account, ref=DEMO_DEFAULT_ROLE)
        _, scim_token = scim_settings.enable(account=account, actor=actor, default_role_id=role.id)
    base = str(current_app.config["PUBLIC_BASE_URL"]).rstrip("/")
    result: dict[str, Any] = {
        "account_id": account.id,
        "scim_token": scim_token,
        "viewer_token": _viewer_token(DEMO_ADMIN, actor),
        "scim_base_url": f"{base}/scim/v2",
        "graphql_url": f"{base}/graphql",
    }
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(f"Account:        {DEMO_ACCOUNT} (id {account.id}), admin {DEMO_ADMIN}")
    click.echo(f"SCIM base URL:  {result['scim_base_url']}")
    click.echo(f"SCIM token:     {scim_token}")
    click.echo(f"GraphiQL:       {result['graphql_url']}")
    click.echo(f"Viewer token:   {result['viewer_token']}")
    click.echo('  (GraphiQL headers: {"Authorization": "Bearer <viewer token>"})')
    click.echo("Paste into your shell for the README's curl examples:")
    click.echo(f"export SCIM_TOKEN={shlex.quote(scim_token)}")
    click.echo(f"export VIEWER_TOKEN={shlex.quote(result['viewer_token'])}")


def _viewer_token(email: str, actor: Operator = OPERATOR) -> str:
    """A signed viewer token for the teammate; minting it is audited."""
    return users.issue_viewer_token(
        actor=actor,
        email=email,
        sign=lambda user: tokens.sign_viewer_token(
            current_app.config["SECRET_KEY"], user.id, user.session_generation
        ),
        valid_for_seconds=int(current_app.config["VIEWER_TOKEN_MAX_AGE"]),
    )


def init_app(app: Flask) -> None:
    app.cli.add_command(accounts_cli)
    app.cli.add_command(scim_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(data_cli)
    app.cli.add_command(audit_cli)
    app.cli.add_command(demo)
