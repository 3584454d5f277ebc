"""The viewer's account: plan, SSO, SCIM settings, and its users, teams and roles."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from graph.context import Info, field, from_model
from graph.pagination import FIRST_DESCRIPTION, Connection, Node, encode_id
from graph.permissions import require_viewer
from graph.roles import Role, list_roles
from graph.scim import ScimConfiguration
from graph.teams import Team, teams_connection
from graph.users import User, UserFilter, user_nodes, users_connection
from heap import models
from heap.services import domains

strawberry.enum(models.Plan, name="Plan")
First = Annotated[int | None, strawberry.argument(description=FIRST_DESCRIPTION)]


@strawberry.type(
    name="VerifiedDomain",
    description="An email domain Heap verified as this account's: its addresses (and its "
    "subdomains') can't be invited or provisioned by any other account. Set by Heap operators.",
)
class VerifiedDomain:
    model: strawberry.Private[models.VerifiedDomain]
    domain: str = from_model("domain", description="Lower case; IDNA (punycode) for non-ASCII.")
    verified_at: datetime = from_model("verified_at")


@strawberry.type(name="Account", description="A Heap organisation: the viewer's account.")
class Account(Node):
    model: strawberry.Private[models.Account]

    name: str = from_model("name")

    @field(description="SCIM needs Premier.")
    def plan(self) -> models.Plan:
        return models.Plan(self.model.plan)

    sso_configured: bool = from_model(
        "sso_configured", description="Single sign-on is set up; SCIM needs it."
    )

    @field(
        description="Active Admins. 0 only once the identity provider deactivated or deleted "
        "the last one (it always may): it restores one by sending Heap Role Admin for someone."
    )
    def admin_count(self, info: Info) -> int:
        return info.context.active_admins()

    @field(description="Email domains verified as this account's; read-only.")
    def verified_domains(self) -> list[VerifiedDomain]:
        return [VerifiedDomain(model=d) for d in domains.list_for(account=self.model)]

    @strawberry.field
    def scim(self) -> ScimConfiguration:
        return ScimConfiguration(account=self.model)

    @field(description="Teammates, in the order they joined; any teammate may read.")
    def users(
        self,
        info: Info,
        first: First = None,
        after: str | None = None,
        filter: UserFilter | None = None,
    ) -> Connection[User]:
        return users_connection(info, first, after, filter)

    @field(description="Teams, in the order they were created.")
    def teams(
        self,
        info: Info,
        first: First = None,
        after: str | None = None,
        search: Annotated[
            str | None, strawberry.argument(description="Part of the team name.")
        ] = None,
    ) -> Connection[Team]:
        return teams_connection(info, first, after, search)

    @field(description="Built-in roles first, then custom roles by name.")
    def roles(self, info: Info) -> list[Role]:
        return list_roles(info)


def account_node(model: models.Account) -> Account:
    return Account(id=encode_id("Account", model.id), model=model)


@strawberry.type
class AccountQueries:
    @field(description="The signed-in teammate.")
    def viewer(self, info: Info) -> User:
        return user_nodes([require_viewer(info).viewer])[0]

    @field(description="The viewer's account.")
    def account(self, info: Info) -> Account:
        return account_node(require_viewer(info).account)
