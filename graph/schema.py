"""The schema: Query and Mutation composed from the per-domain modules, plus the guards."""

from __future__ import annotations

from collections.abc import Callable

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaxTokensLimiter, SchemaExtension
from strawberry.types import ExecutionContext

from graph.accounts import AccountQueries, account_node
from graph.context import Info, Session, field
from graph.errors import MaskUnexpectedErrors, log_errors
from graph.pagination import Node, parse_id, parse_key
from graph.permissions import require_admin, require_viewer
from graph.query_limits import QueryLimits
from graph.roles import RoleMutations, role_node
from graph.scim import ScimMutations, token_node
from graph.teams import TeamMutations, team_nodes
from graph.users import UserMutations, user_nodes
from heap.services import directory

MAX_TOKENS = 2000


def _resolve_node(session: Session, type_name: str, key: int) -> Node | None:
    account = session.account
    match type_name:
        case "Account":
            return account_node(account) if key == account.id else None
        case "User":
            user = directory.find_user(account=account, user_id=key)
            return user_nodes([user])[0] if user is not None else None
        case "Team":
            team = directory.find_team(account=account, team_id=key)
            return team_nodes([team])[0] if team is not None else None
        case "Role":
            role = directory.find_role(account=account, role_id=key)
            return role_node(role) if role is not None else None
        case "ScimToken":
            token = directory.find_token(account=account, token_id=key)
            return token_node(token) if token is not None else None
    return None


@strawberry.type
class Query(AccountQueries):
    @field(description="Any object by global id; null if not in the viewer's account.")
    def node(self, info: Info, id: strawberry.ID) -> Node | None:
        session = require_viewer(info)
        parsed = parse_id(id)
        key = None if parsed is None else parse_key(parsed[1])
        if parsed is None or key is None:
            return None
        if parsed[0] == "ScimToken":
            # Tokens are for Admins only, wherever they are reached from.
            require_admin(info)
        return _resolve_node(session, parsed[0], key)


@strawberry.type
class Mutation(ScimMutations, UserMutations, TeamMutations, RoleMutations):
    pass


def _extensions() -> list[Callable[[], SchemaExtension]]:
    # Factories, not instances: Strawberry builds fresh extensions per operation.
    return [
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        # Depth, aliases and cost in one linear pass (see graph/query_limits.py for why not
        # Strawberry's QueryDepthLimiter and MaxAliasesLimiter).
        QueryLimits,
        MaskUnexpectedErrors,
    ]


class HeapSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Strawberry's default logs every error, refusals included, to a logger our JSON
        # formatter never sees: no request id to find a masked error by.
        log_errors(errors)


schema = HeapSchema(query=Query, mutation=Mutation, extensions=_extensions())
