"""The Group resource's attributes (RFC 7643 §4.2): a Heap team, as Okta Group Push and Entra
see it, with where Heap keeps each attribute and how it filters."""

from __future__ import annotations

from sqlalchemy import literal

from heap.models import ScimIdentity, Team
from heap.services import teams
from scim.attributes.model import (
    Attr,
    Column,
    Elements,
    Lives,
    ResourceType,
    Schema,
    common_attributes,
)
from scim.constants import GROUP_URN

COMMON = common_attributes(
    "team",
    id=Team.scim_id.expression,
    external_id=Team.external_id.expression,
    created=Team.created_at.expression,
    last_modified=Team.updated_at.expression,
    resource_type=literal("Group"),
)

CORE = Schema(
    urn=GROUP_URN,
    name="Group",
    description="Group",
    attributes=(
        Attr(
            "displayName",
            "A human-readable name for the Group.",
            required=True,
            # Heap's team names are unique in an account (RFC 7643 says "none").
            uniqueness="server",
            lives=Lives.COLUMN,
            # The value is normalised like a stored team name, so Okta's `displayName eq
            # "Data  Team "` finds "Data Team" and links instead of creating a duplicate that the
            # unique index would refuse.
            filter=Column(Team.name.expression, normalise=teams.normalize_name),
        ),
        Attr(
            "members",
            "A list of members of the Group.",
            type="complex",
            multi_valued=True,
            sub_attributes=(
                Attr(
                    "value",
                    "Identifier of the member of this Group.",
                    case_exact=True,
                    mutability="immutable",
                    filter=Column(ScimIdentity.id.expression),
                ),
                Attr(
                    "$ref",
                    "The reference URI of a target resource, if the attribute is a\nreference.",
                    type="reference",
                    case_exact=True,
                    mutability="immutable",
                    reference_types=("User", "Group"),
                ),
                Attr(
                    "type",
                    "A label indicating the type of resource, e.g., 'User' or 'Group'.",
                    mutability="immutable",
                    canonical_values=("User", "Group"),
                ),
                # Heap's: the member's userName.
                Attr("display", filter=Column(ScimIdentity.user_name.expression)),
            ),
            lives=Lives.DERIVED,
            filter=Elements(exists=teams.has_member_where),
        ),
    ),
)

GROUPS = ResourceType(
    name="Group",
    endpoint="/Groups",
    description="A Heap team",
    schema=CORE,
    common=COMMON,
)
