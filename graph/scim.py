"""SCIM setup for Admins: settings, tokens (secrets shown once), activity, and their mutations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from flask import current_app

from graph.context import Info, Session, field, from_model, mutation
from graph.errors import UserError
from graph.mutations import mutate
from graph.pagination import (
    FIRST_DESCRIPTION,
    Connection,
    Node,
    check_first,
    decode_cursor,
    decode_id,
    encode_id,
)
from graph.pagination import connection as make_connection
from graph.permissions import require_admin, require_viewer
from graph.roles import Role, role_node
from heap import models, policy
from heap.errors import ErrorCode, Invalid
from heap.services import directory, scim_settings

strawberry.enum(models.AuditOutcome, name="AuditOutcome")


@strawberry.type(name="ScimToken", description="A SCIM bearer token; its secret is never shown.")
class ScimToken(Node):
    model: strawberry.Private[models.ScimToken]
    prefix: str = from_model(
        "prefix", description="The first characters of the secret, to tell tokens apart."
    )
    created_at: datetime = from_model("created_at")
    created_by: str = from_model("created_by", description="Who minted it.")
    last_used_at: datetime | None = from_model(
        "last_used_at", description="Last SCIM request made with it, to the minute."
    )
    revoked_at: datetime | None = from_model("revoked_at")
    active: bool = from_model("is_active")


def token_node(model: models.ScimToken) -> ScimToken:
    return ScimToken(id=encode_id("ScimToken", model.id), model=model)


@strawberry.type(description="One change, skip or refusal, and who asked for it.")
class AuditEvent:
    model: strawberry.Private[models.AuditEvent]
    occurred_at: datetime = from_model("occurred_at")
    actor_kind: str = from_model("actor_kind", description="member, identity_provider or operator.")
    actor: str = from_model(
        "actor_label", description="Who: an email, a SCIM token prefix, or the operator."
    )
    action: str = from_model("action", description="What, e.g. user.provision, team.add_members.")
    target_kind: str | None = from_model(
        "target_kind", description="user, team, role, account or scim_token; null if none."
    )
    target_id: str | None = from_model(
        "target_id", description="The target's id as Heap recorded it (a SCIM id, or a number)."
    )
    target: str | None = from_model(
        "target_label", description="Which one, for people: an email, a team or role name."
    )

    @strawberry.field
    def outcome(self) -> models.AuditOutcome:
        return models.AuditOutcome(self.model.outcome)

    reason: str | None = from_model("reason", description="Why it was skipped or refused.")


@strawberry.type(description="SCIM provisioning for the account.")
class ScimConfiguration:
    account: strawberry.Private[models.Account]

    @strawberry.field
    def enabled(self) -> bool:
        return self.account.scim_enabled

    @field(description="Enabled and on Premier: the identity provider may provision.")
    def active(self) -> bool:
        return self.account.scim_active

    @field(description="The role given to users the identity provider sends none for.")
    def default_role(self) -> Role | None:
        role = self.account.scim_default_role
        return role_node(role) if role is not None else None

    @strawberry.field
    def enabled_at(self) -> datetime | None:
        return self.account.scim_enabled_at

    @strawberry.field
    def enabled_by(self) -> str | None:
        return self.account.scim_enabled_by

    @field(description="The SCIM connector base URL to paste into the identity provider.")
    def base_url(self) -> str:
        return str(current_app.config["PUBLIC_BASE_URL"]).rstrip("/") + "/scim/v2"

    @field(
        description="Every reason the viewer may not enable SCIM now, in a stable order "
        "(permission, plan, SSO, state); empty if they may."
    )
    def viewer_cannot_enable_reasons(self, info: Info) -> list[ErrorCode]:
        s = require_viewer(info)
        return [refusal.code for refusal in policy.enable_refusals(s.account, s.actor)]

    @field(description="Every token, newest first. Admins only.")
    def tokens(self, info: Info) -> list[ScimToken] | None:
        s = require_admin(info)
        return [token_node(token) for token in scim_settings.list_tokens(account=s.account)]

    @field(description="The audit log, newest first. Admins only.")
    def activity(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description=FIRST_DESCRIPTION)] = None,
        after: str | None = None,
        target: Annotated[
            str | None,
            strawberry.argument(
                description="Only events about this target: its id or label (an email, a team "
                "name), matched whole, ignoring case."
            ),
        ] = None,
        outcome: Annotated[
            models.AuditOutcome | None,
            strawberry.argument(description="Only events with this outcome."),
        ] = None,
    ) -> Connection[AuditEvent] | None:
        s = require_admin(info)
        before_id = decode_cursor(after)
        page = directory.list_events(
            account=s.account,
            first=check_first(first),
            before_id=before_id,
            target=target,
            outcome=outcome,
        )
        return make_connection(
            page,
            key=lambda event: event.id,
            to_node=lambda items: [AuditEvent(model=event) for event in items],
            after=before_id,
        )


def _configuration(account: models.Account | None) -> ScimConfiguration | None:
    return ScimConfiguration(account=account) if account is not None else None


@strawberry.input
class EnableScimInput:
    default_role_id: strawberry.ID = strawberry.field(
        description="The role for users the identity provider sends no Heap Role for."
    )


@strawberry.type
class EnableScimPayload:
    scim: ScimConfiguration | None
    plaintext_token: str | None = strawberry.field(
        description="The first SCIM token. Shown this once: paste it into the identity provider."
    )
    user_errors: list[UserError]


@strawberry.input(description="GraphQL has no empty inputs; `confirm` also guards the switch.")
class DisableScimInput:
    confirm: bool = strawberry.field(
        description="Must be true. Revokes every token and unlinks every team; users stay."
    )


@strawberry.type
class DisableScimPayload:
    scim: ScimConfiguration | None
    user_errors: list[UserError]


@strawberry.input
class SetScimDefaultRoleInput:
    role_id: strawberry.ID


@strawberry.type
class SetScimDefaultRolePayload:
    scim: ScimConfiguration | None
    user_errors: list[UserError]


@strawberry.input(description="GraphQL has no empty inputs; `confirm` states the intent.")
class RotateScimTokenInput:
    confirm: bool = strawberry.field(
        description="Must be true. Old tokens keep working until revoked."
    )


@strawberry.type
class RotateScimTokenPayload:
    scim_token: ScimToken | None
    plaintext_token: str | None = strawberry.field(description="The new secret. Shown this once.")
    user_errors: list[UserError]


@strawberry.input
class RevokeScimTokenInput:
    token_id: strawberry.ID


@strawberry.type
class RevokeScimTokenPayload:
    scim_token: ScimToken | None
    user_errors: list[UserError]


def _confirmed(confirm: bool) -> None:
    if not confirm:
        raise Invalid("Set confirm to true to go ahead.", field="confirm")


def _token(model: models.ScimToken | None) -> ScimToken | None:
    return None if model is None else token_node(model)


def _role_id(value: strawberry.ID, field: str) -> int:
    return decode_id(value, "Role", field=field)


@strawberry.type
class ScimMutations:
    @mutation(description="Turn SCIM on. Admins of Premier accounts with SSO only.")
    def enable_scim(self, info: Info, input: EnableScimInput) -> EnableScimPayload | None:
        return mutate(
            info,
            lambda s: scim_settings.enable(
                account=s.account,
                actor=s.actor,
                default_role_id=_role_id(input.default_role_id, "defaultRoleId"),
            ),
            lambda done, errors: EnableScimPayload(
                scim=_configuration(None if done is None else done[0]),
                plaintext_token=None if done is None else done[1],
                user_errors=errors,
            ),
        )

    @mutation(description="Turn SCIM off: tokens revoked, teams unlinked, users kept.")
    def disable_scim(self, info: Info, input: DisableScimInput) -> DisableScimPayload | None:
        def disable(s: Session) -> models.Account:
            _confirmed(input.confirm)
            return scim_settings.disable(account=s.account, actor=s.actor)

        return mutate(
            info,
            disable,
            lambda account, errors: DisableScimPayload(
                scim=_configuration(account), user_errors=errors
            ),
        )

    @mutation(description="Change the role given to users the IdP sends none for.")
    def set_scim_default_role(
        self, info: Info, input: SetScimDefaultRoleInput
    ) -> SetScimDefaultRolePayload | None:
        return mutate(
            info,
            lambda s: scim_settings.set_default_role(
                account=s.account, actor=s.actor, role_id=_role_id(input.role_id, "roleId")
            ),
            lambda account, errors: SetScimDefaultRolePayload(
                scim=_configuration(account), user_errors=errors
            ),
        )

    @mutation(description="Mint a new SCIM token beside the current ones.")
    def rotate_scim_token(
        self, info: Info, input: RotateScimTokenInput
    ) -> RotateScimTokenPayload | None:
        def rotate(s: Session) -> tuple[models.ScimToken, str]:
            _confirmed(input.confirm)
            return scim_settings.rotate_token(account=s.account, actor=s.actor)

        return mutate(
            info,
            rotate,
            lambda done, errors: RotateScimTokenPayload(
                scim_token=_token(None if done is None else done[0]),
                plaintext_token=None if done is None else done[1],
                user_errors=errors,
            ),
        )

    @mutation(description="Revoke a SCIM token; effective on its next request.")
    def revoke_scim_token(
        self, info: Info, input: RevokeScimTokenInput
    ) -> RevokeScimTokenPayload | None:
        return mutate(
            info,
            lambda s: scim_settings.revoke_token(
                account=s.account,
                actor=s.actor,
                token_id=decode_id(input.token_id, "ScimToken", field="tokenId"),
            ),
            lambda token, errors: RevokeScimTokenPayload(
                scim_token=_token(token), user_errors=errors
            ),
        )
