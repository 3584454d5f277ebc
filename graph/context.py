"""The request's viewer, handed to every resolver."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any, TypeAlias, TypeVar, cast

import strawberry

from heap.actors import Member
from heap.models import Account, User
from heap.services import users


@dataclass
class Context:
    """Who is asking, read on first use. ``viewer`` is None when the bearer token is missing,
    forged, expired, or from a session that ended (the user was deactivated or deleted).

    Nothing is read until a resolver asks, so a request refused before execution (a query over
    the cost budget) costs no SQL.
    """

    load_viewer: Callable[[], User | None]
    _viewer: User | None = dataclass_field(default=None, repr=False)
    _viewer_read: bool = dataclass_field(default=False, repr=False)
    _actor: Member | None = dataclass_field(default=None, repr=False)
    _active_admins: int | None = dataclass_field(default=None, repr=False)

    @property
    def viewer(self) -> User | None:
        if not self._viewer_read:
            self._viewer = self.load_viewer()
            self._actor = Member(self._viewer) if self._viewer is not None else None
            self._viewer_read = True
        return self._viewer

    @property
    def account(self) -> Account | None:
        viewer = self.viewer
        return viewer.account if viewer is not None else None

    @property
    def actor(self) -> Member | None:
        return self._actor if self.viewer is not None else None

    def active_admins(self) -> int:
        """The account's active Admin count, read once per request (not once per user shown)."""
        if self._active_admins is None:
            assert self.account is not None
            self._active_admins = users.count_active_admins(account=self.account)
        return self._active_admins

    def forget_counts(self) -> None:
        """A mutation may change the Admin count: read it afresh after one runs."""
        self._active_admins = None


F = TypeVar("F", bound=Callable[..., Any])

Info: TypeAlias = strawberry.Info[Context, Any]


@dataclass(frozen=True)
class Session:
    """An authenticated viewer: the same three values, none of them optional."""

    viewer: User
    account: Account
    actor: Member


def field(*, description: str) -> Callable[[F], F]:
    """``strawberry.field(description=...)``, typed: called with keywords only it returns Any."""
    return cast("Callable[[F], F]", strawberry.field(description=description))


def from_model(attribute: str, *, description: str | None = None) -> Any:
    """A field read from ``self.model.<attribute>``; its GraphQL type is the class annotation.

    Returns Any, as ``strawberry.field`` does, so ``name: str = from_model("name")`` type-checks.
    """

    def resolve(root: Any) -> Any:
        return getattr(root.model, attribute)

    return strawberry.field(resolver=resolve, description=description)


def mutation(*, description: str) -> Callable[[F], F]:
    """``strawberry.mutation(description=...)``, typed for the same reason."""
    return cast("Callable[[F], F]", strawberry.mutation(description=description))
