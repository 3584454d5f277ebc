"""Verified domains: email domains an operator confirmed an account owns.

An address at a verified domain (or one of its subdomains) belongs to that account: nobody
outside it may invite it, or provision it over SCIM (``policy.ensure_address_available``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, func, or_, select

from heap import policy
from heap.actors import Actor
from heap.errors import AlreadyExists, Invalid, NotFound
from heap.extensions import db
from heap.models import Account, User, VerifiedDomain
from heap.services import audit
from heap.text import require_storable
from heap.transaction import Attempt, unit_of_work

MAX_DOMAIN = 253
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# How many addresses held elsewhere ``verify`` reports: enough to act on, never a dump.
MAX_HELD_ELSEWHERE = 20


def normalize(domain: str) -> str:
    """The stored form: lower case, ASCII (IDNA), no trailing dot; ``Invalid`` if not a domain.

    A domain has at least two labels and a non-numeric last one, so neither a bare top-level
    domain nor an IP address can be claimed.
    """
    value = require_storable(domain, "domain").strip().rstrip(".").lower()
    try:
        value = value.encode("idna").decode("ascii")
    except UnicodeError:
        raise Invalid(f"{domain!r} is not a domain name.", field="domain") from None
    labels = value.split(".")
    if (
        len(value) > MAX_DOMAIN
        or len(labels) < 2
        or labels[-1].isdigit()
        or not all(_LABEL.fullmatch(label) for label in labels)
    ):
        raise Invalid(
            f"{domain!r} is not a domain name such as example.com (no scheme, no @, no wildcard).",
            field="domain",
        )
    return value


def email_domain(email: str) -> str | None:
    """The domain of an address in the stored form, or None when it has none.

    A domain Heap would not verify itself (an underscore, an overlong label) still has parents
    that may be verified: ``x@foo_bar.example.com`` is at ``example.com``. Such a domain is
    compared label by label, each in its ASCII form where it has one.
    """
    _, at, domain = email.strip().rpartition("@")
    if not at:
        return None
    try:
        return normalize(domain)
    except Invalid:
        labels = domain.strip().rstrip(".").lower().split(".")
        return ".".join(_ascii(label) for label in labels) or None


def _ascii(label: str) -> str:
    try:
        return label.encode("idna").decode("ascii")
    except UnicodeError:
        return label


# The account that verified one of ``domains`` (an address's domain and its parents), asked on
# every provisioning and invite (``lifecycle.claims_on``): built once, an expanding list.
OWNER = (
    select(VerifiedDomain.account_id)
    .where(VerifiedDomain.domain.in_(bindparam("domains", expanding=True)))
    .limit(1)
)


def list_for(*, account: Account) -> Sequence[VerifiedDomain]:
    query = select(VerifiedDomain).where(VerifiedDomain.account_id == account.id)
    return db.session.scalars(query.order_by(VerifiedDomain.domain)).all()


@dataclass(frozen=True)
class Verified:
    domain: VerifiedDomain
    # Active users of other accounts already at the domain (at most MAX_HELD_ELSEWHERE): they
    # keep their addresses; the rule applies to new invites and provisioning only.
    held_elsewhere: Sequence[tuple[str, str]]


def verify(*, account: Account, actor: Actor, domain: str) -> Verified:
    """Mark ``domain`` as the account's own; verifying it again is a no-op.

    Refused if another account verified it, a parent of it or a subdomain of it: addresses at
    a subdomain are the parent's owner's, so overlapping claims would contradict each other.
    """
    name = normalize(domain)
    attempt = Attempt(account.id, actor, "account.verify_domain", "domain", target_label=name)
    with unit_of_work(attempt):
        policy.ensure_may_verify_domains(actor)
        overlapping = db.session.scalars(
            select(VerifiedDomain).where(
                or_(
                    VerifiedDomain.domain.in_(parents(name)),
                    VerifiedDomain.domain.endswith("." + name, autoescape=True),
                )
            )
        ).all()
        others = [claim for claim in overlapping if claim.account_id != account.id]
        if others:
            claim = others[0]
            raise AlreadyExists(
                f"{claim.domain} is verified by another account ({claim.account.name}, id "
                f"{claim.account_id}); {name} overlaps it. Remove that verification first if "
                "this account owns the domain.",
                field="domain",
            )
        found = next((claim for claim in overlapping if claim.domain == name), None)
        if found is None:
            found = VerifiedDomain(account_id=account.id, domain=name, verified_by=actor.label)
            db.session.add(found)
            db.session.flush()
            audit.record(
                account.id,
                actor,
                "account.verify_domain",
                audit.Target("domain", found.id, name),
            )
        held = _held_elsewhere(account=account, domain=name)
    return Verified(domain=found, held_elsewhere=held)


def unverify(*, account: Account, actor: Actor, domain: str) -> None:
    name = normalize(domain)
    attempt = Attempt(account.id, actor, "account.unverify_domain", "domain", target_label=name)
    with unit_of_work(attempt):
        policy.ensure_may_verify_domains(actor)
        found = db.session.scalar(
            select(VerifiedDomain).where(
                VerifiedDomain.account_id == account.id, VerifiedDomain.domain == name
            )
        )
        if found is None:
            raise NotFound(f"{name} is not a verified domain of {account.name}.", field="domain")
        audit.record(
            account.id,
            actor,
            "account.unverify_domain",
            audit.Target("domain", found.id, name),
        )
        db.session.delete(found)


def parents(domain: str) -> list[str]:
    """``a.b.example.com`` -> itself, ``b.example.com``, ``example.com`` (never the TLD)."""
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)]


def _held_elsewhere(*, account: Account, domain: str) -> list[tuple[str, str]]:
    email = func.lower(User.email)
    query = (
        select(User.email, Account.name)
        .join(Account, Account.id == User.account_id)
        .where(
            User.account_id != account.id,
            User.is_active,
            or_(email.endswith("@" + domain), email.like(f"%@%.{domain}")),
        )
        .order_by(User.email)
        .limit(MAX_HELD_ELSEWHERE)
    )
    return [(row.email, row.name) for row in db.session.execute(query)]
