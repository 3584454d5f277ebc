"""Who is acting: a Heap teammate, the identity provider (through a SCIM token), or an operator."""

from __future__ import annotations

from dataclasses import dataclass

from heap.models import ScimToken, User


@dataclass(frozen=True)
class Member:
    """A signed-in Heap teammate, acting through the front end."""

    user: User

    @property
    def kind(self) -> str:
        return "member"

    @property
    def id(self) -> str:
        return str(self.user.id)

    @property
    def label(self) -> str:
        return self.user.email


@dataclass(frozen=True)
class IdentityProvider:
    """Okta, Entra ID or another SCIM client, acting through one of the account's SCIM tokens.

    The token by its id and visible prefix, not as a loaded object: every SCIM request
    authenticates, and its token is read as plain values (``scim_settings.authenticate``).
    """

    token_id: int
    token_prefix: str

    @classmethod
    def through(cls, token: ScimToken) -> IdentityProvider:
        return cls(token.id, token.prefix)

    @property
    def kind(self) -> str:
        return "identity_provider"

    @property
    def id(self) -> str:
        return str(self.token_id)

    @property
    def label(self) -> str:
        return f"SCIM token {self.token_prefix}…"


@dataclass(frozen=True)
class Operator:
    """Heap staff or a deployment script, acting through the ``flask`` CLI."""

    name: str = "cli"

    @property
    def kind(self) -> str:
        return "operator"

    @property
    def id(self) -> str | None:
        return None

    @property
    def label(self) -> str:
        return f"operator ({self.name})"


Actor = Member | IdentityProvider | Operator
