"""factory-boy factories: each test builds the rows it needs, committed like the app would."""

from __future__ import annotations

from typing import Any, cast

import factory
from factory.alchemy import SQLAlchemyModelFactory

from heap import tokens
from heap.extensions import db
from heap.models import (
    ADMIN_ROLE,
    Account,
    AuditEvent,
    Plan,
    Role,
    ScimIdentity,
    ScimToken,
    Team,
    TeamMembership,
    User,
)
from heap.services import roles


class _Base(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731
        sqlalchemy_session_persistence = "commit"


class AccountFactory(_Base):
    """An account with the four built-in roles, like every real one."""

    class Meta:
        model = Account

    name = factory.Sequence(lambda n: f"Account {n}")
    plan = Plan.PREMIER.value
    sso_configured = True
    scim_enabled = False

    @factory.post_generation
    def builtin_roles(obj: Account, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create:
            roles.seed_builtin(account=obj)
            db.session.commit()


def role(account: Account, name: str) -> Role:
    """A role of ``account`` by name (the built-ins exist on every factory account)."""
    found = roles.get_by_name(account=account, name=name)
    assert found is not None, name
    return found


class RoleFactory(_Base):
    class Meta:
        model = Role

    account = factory.SubFactory(AccountFactory)
    name = factory.Sequence(lambda n: f"Custom role {n}")
    is_builtin = False
    is_admin = False


class UserFactory(_Base):
    """An active teammate with a SCIM identity whose ``userName`` is the email."""

    class Meta:
        model = User

    account = factory.SubFactory(AccountFactory)
    email = factory.Sequence(lambda n: f"person{n}@example.com")
    given_name = factory.Faker("first_name")
    family_name = factory.Faker("last_name")
    deactivated_at = None
    # A deactivated user (a tombstone) holds no role: the database refuses one that does.
    role = factory.LazyAttribute(
        lambda o: None if o.deactivated_at is not None else role(o.account, "Analyst")
    )

    class Params:
        admin = factory.Trait(role=factory.LazyAttribute(lambda o: role(o.account, ADMIN_ROLE)))

    @factory.post_generation
    def identity(obj: User, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create:
            obj.scim_identity = ScimIdentity(
                account_id=obj.account_id,
                user_name=kwargs.pop("user_name", obj.email),
                **kwargs,
            )
            db.session.commit()


class ScimTokenFactory(_Base):
    """A token; the secret is on ``.raw`` (only the hash is stored)."""

    class Meta:
        # ``raw`` is not excluded: an excluded declaration never reaches ``_create``, which
        # needs it to hand the secret back to the test.
        model = ScimToken

    account = factory.SubFactory(AccountFactory)
    raw = factory.LazyFunction(tokens.mint_scim_token)
    prefix = factory.LazyAttribute(lambda o: tokens.visible_prefix(o.raw))
    token_hash = factory.LazyAttribute(lambda o: tokens.hash_token(o.raw))
    created_by = "tests"

    @classmethod
    def _create(cls, model_class: type[ScimToken], *args: Any, **kwargs: Any) -> ScimToken:
        raw = kwargs.pop("raw", None)
        token: ScimToken = super()._create(model_class, *args, **kwargs)
        token.raw = raw  # the secret, for the test only
        return token


class TeamFactory(_Base):
    class Meta:
        model = Team

    account = factory.SubFactory(AccountFactory)
    name = factory.Sequence(lambda n: f"Team {n}")
    scim_managed = False


class TeamMembershipFactory(_Base):
    class Meta:
        model = TeamMembership

    team_id = factory.LazyAttribute(lambda o: o.team.id)
    user_id = factory.LazyAttribute(lambda o: o.user.id)

    class Params:
        team = factory.SubFactory(TeamFactory)
        user = factory.SubFactory(UserFactory)


class AuditEventFactory(_Base):
    class Meta:
        model = AuditEvent

    account = factory.SubFactory(AccountFactory)
    actor_kind = "operator"
    actor_label = "operator (cli)"
    action = "account.create"


def scim_account(**kwargs: Any) -> tuple[Account, str]:
    """A Premier account with SSO and SCIM on (default role Analyst), and a raw SCIM token."""
    account = cast(Account, AccountFactory(**kwargs))
    account.scim_enabled = True
    account.scim_default_role = role(account, "Analyst")
    db.session.commit()
    token = ScimTokenFactory(account=account)
    return account, str(token.raw)


def role_name(user: User) -> str | None:
    """The user's Heap role name; None while deactivated (a tombstone holds no role)."""
    return None if user.role is None else user.role.name
