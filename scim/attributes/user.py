"""The User resource's attributes: RFC 7643's core User (§4.1) and enterprise extension (§4.3),
and Heap's extension, each with where Heap keeps it and how it filters.

Descriptions are RFC 7643's text (Heap's own where Heap behaves specially). To add an attribute:
add its row; give it ``lives=Lives.COLUMN`` and a migration if Heap should store it apart, and a
``filter`` to make it searchable. The PATCH engine, the loaders, the filter compiler and
/Schemas all read this table.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, String, literal, or_
from sqlalchemy.sql.visitors import replacement_traverse

from heap.models import Role, ScimIdentity, User
from scim.attributes.model import (
    Attr,
    Column,
    Elements,
    Lives,
    ResourceType,
    Schema,
    common_attributes,
)
from scim.constants import ENTERPRISE_USER_URN, HEAP_USER_URN, USER_URN


def _also_sent_email(predicate: ColumnElement[bool]) -> ColumnElement[bool]:
    """The predicate on the Heap email, or the same predicate on the address the IdP sent.

    Entra may send an email-shaped UPN as userName (then the Heap email) and another work
    address; its uniqueness lookup by that address must still find the user.
    """

    def swap(element: Any, **_: Any) -> Any:
        if getattr(element, "table", None) is User.__table__ and element.key == "email":
            return ScimIdentity.email.expression
        return None

    no_options: dict[str, Any] = {}
    return or_(predicate, replacement_traverse(predicate, no_options, swap))


# A role must be named exactly: Heap's role names are case-exact, unlike most SCIM strings.
_ROLE = Column(Role.name.expression)

COMMON = common_attributes(
    "user",
    id=ScimIdentity.id.expression,
    external_id=ScimIdentity.external_id.expression,
    created=ScimIdentity.created_at.expression,
    last_modified=ScimIdentity.last_modified.expression,
)

CORE = Schema(
    urn=USER_URN,
    name="User",
    description="User",
    attributes=(
        Attr(
            "userName",
            "Unique identifier for the User, typically used by the user to directly\n"
            "authenticate to the service provider.",
            required=True,
            uniqueness="server",
            lives=Lives.COLUMN,
            filter=Column(ScimIdentity.user_name.expression),
        ),
        Attr(
            "name",
            "The components of the user's real name.",
            type="complex",
            sub_attributes=(
                Attr(
                    "formatted",
                    "The full name, including all middle names, titles, and suffixes as\n"
                    "appropriate, formatted for display (e.g., 'Ms. Barbara J Jensen, III').",
                    # Filtered on the names Heap holds, whatever was sent.
                    filter=Column(User.given_name + " " + User.family_name),
                ),
                Attr(
                    "familyName",
                    "The family name of the User, or last name in most Western languages\n"
                    "(e.g., 'Jensen' given the full name 'Ms. Barbara J Jensen, III').",
                    lives=Lives.COLUMN,
                    filter=Column(User.family_name.expression),
                ),
                Attr(
                    "givenName",
                    "The given name of the User, or first name in most Western languages\n"
                    "(e.g., 'Barbara' given the full name 'Ms. Barbara J Jensen, III').",
                    lives=Lives.COLUMN,
                    filter=Column(User.given_name.expression),
                ),
                Attr(
                    "middleName",
                    "The middle name(s) of the User (e.g., 'Jane' given the full name 'Ms.\n"
                    "Barbara J Jensen, III').",
                ),
                Attr(
                    "honorificPrefix",
                    "The honorific prefix(es) of the User, or title in most Western languages\n"
                    "(e.g., 'Ms.' given the full name 'Ms. Barbara J Jensen, III').",
                ),
                Attr(
                    "honorificSuffix",
                    "The honorific suffix(es) of the User, or suffix in most Western\n"
                    "languages (e.g., 'III' given the full name 'Ms. Barbara J Jensen, III').",
                ),
            ),
            lives=Lives.COLUMN,
        ),
        Attr(
            "displayName",
            "The name of the User, suitable for display to end-users.",
            lives=Lives.COLUMN,
            filter=Column(User.display_name.expression),
        ),
        Attr(
            "nickName",
            "The casual way to address the user in real life, e.g., 'Bob' or 'Bobby'\n"
            "instead of 'Robert'.",
        ),
        Attr(
            "profileUrl",
            "A fully qualified URL pointing to a page representing the User's online\nprofile.",
            type="reference",
            case_exact=True,
            reference_types=("external",),
        ),
        Attr(
            "title",
            'The user\'s title, such as "Vice President".',
            # Okta maps its profile's title here, Entra its jobTitle (default mappings).
            filter=Column(ScimIdentity.extra["title"].as_string()),
        ),
        Attr(
            "userType",
            "Used to identify the relationship between the organization and the user.\n"
            "\n"
            "Typical values used might be 'Contractor', 'Employee', 'Intern',\n"
            "'Temp', 'External', and 'Unknown', but any value may be used.",
        ),
        Attr(
            "preferredLanguage",
            "Indicates the User's preferred written or spoken language.\n"
            "\n"
            "Generally used for selecting a localized user interface; e.g.,\n"
            "'en_US' specifies the language English and country US.",
        ),
        Attr(
            "locale",
            "Used to indicate the User's default location for purposes of localizing\n"
            "items such as currency, date time format, or numerical representations.",
        ),
        Attr(
            "timezone",
            "The User's time zone in the 'Olson' time zone database format, e.g.,\n"
            "'America/Los_Angeles'.",
        ),
        Attr(
            "active",
            "A Boolean value indicating the User's administrative status.",
            type="boolean",
            lives=Lives.DERIVED,
            filter=Column(User.is_active.expression),
        ),
        Attr(
            "password",
            "The User's cleartext password.",
            case_exact=True,
            mutability="writeOnly",
            returned="never",
            lives=Lives.NOWHERE,
        ),
        Attr(
            "emails",
            # Heap's words, and required (RFC 7643: optional): Heap signs people in by email.
            "Email addresses for the user. Heap signs people in by email: required unless "
            "userName is an email address; the primary (else work, else first) address is the "
            "Heap login.",
            type="complex",
            multi_valued=True,
            required=True,
            sub_attributes=(
                Attr(
                    "value",
                    "Email addresses for the user.",
                    required=True,
                    # The Heap email; _also_sent_email compares the address the IdP sent too.
                    filter=Column(User.email.expression),
                ),
                Attr(
                    "display",
                    "A human-readable name, primarily used for display purposes.",
                    filter=Column(User.email.expression),
                ),
                Attr(
                    "type",
                    "A label indicating the attribute's function, e.g., 'work' or 'home'.",
                    canonical_values=("work", "home", "other"),
                    # Heap holds one address, the work one.
                    filter=Column(literal("work", String)),
                ),
                Attr(
                    "primary",
                    "A Boolean value indicating the 'primary' or preferred attribute value\n"
                    "for this attribute, e.g., the preferred mailing address or primary email\n"
                    "address.",
                    type="boolean",
                    filter=Column(literal(True)),
                ),
            ),
            filter=Elements(exists=_also_sent_email),
        ),
        Attr(
            "phoneNumbers",
            "Phone numbers for the User.",
            type="complex",
            multi_valued=True,
            sub_attributes=(
                Attr(
                    "value",
                    "Phone number of the User.",
                ),
                Attr(
                    "display",
                    "A human-readable name, primarily used for display purposes.",
                ),
                Attr(
                    "type",
                    "A label indicating the attribute's function, e.g., 'work', 'home',\n'mobile'.",
                    canonical_values=("work", "home", "mobile", "fax", "pager", "other"),
                ),
                Attr(
                    "primary",
                    "A Boolean value indicating the 'primary' or preferred attribute value\n"
                    "for this attribute, e.g., the preferred phone number or primary phone\n"
                    "number.",
                    type="boolean",
                ),
            ),
        ),
        Attr(
            "ims",
            "Instant messaging addresses for the User.",
            type="complex",
            multi_valued=True,
            sub_attributes=(
                Attr(
                    "value",
                    "Instant messaging address for the User.",
                ),
                Attr(
                    "display",
                    "A human-readable name, primarily used for display purposes.",
                ),
                Attr(
                    "type",
                    "A label indicating the attribute's function, e.g., 'aim', 'gtalk',\n'xmpp'.",
                    canonical_values=("aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"),
                ),
                Attr(
                    "primary",
                    "A Boolean value indicating the 'primary' or preferred attribute value\n"
                    "for this attribute, e.g., the preferred messenger or primary messenger.",
                    type="boolean",
                ),
            ),
        ),
        Attr(
            "photos",
            "URLs of photos of the User.",
            type="complex",
            multi_valued=True,
            sub_attributes=(
                Attr(
                    "value",
                    "URL of a photo of the User.",
                    type="reference",
                    case_exact=True,
                    reference_types=("external",),
                ),
                Attr(
                    "display",
                    "A human-readable name, primarily used for display purposes.",
                ),
                Attr(
                    "type",
                    "A label indicating the attribute's function, i.e., 'photo' or\n'thumbnail'.",
                    canonical_values=("photo", "thumbnail"),
                ),
                Attr(
                    "primary",
                    "A Boolean value indicating the 'primary' or preferred attribute value\n"
                    "for this attribute, e.g., the preferred photo or thumbnail.",
                    type="boolean",
                ),
            ),
        ),
        Attr(
            "addresses",
            "A physical mailing address for this User.",
            type="complex",
            multi_valued=True,
            sub_attributes=(
                Attr(
                    "formatted",
                    "The full mailing address, formatted for display or use with a mailing\nlabel.",
                ),
                Attr(
                    "streetAddress",
                    "The full street address component, which may include house number,\n"
                    "street name, P.O.\n"
                    "\n"
                    "box, and multi-line extended street address information.",
                ),
                Attr(
                    "locality",
                    "The city or locality component.",
                ),
                Attr(
                    "region",
                    "The state or region component.",
                ),
                Attr(
                    "postalCode",
                    "The zip code or postal code component.",
                ),
                Attr(
                    "country",
                    "The country name component.",
                ),
                Attr(
                    "type",
                    "A label indicating the attribute's function, e.g., 'work' or 'home'.",
                    canonical_values=("work", "home", "other"),
                ),
                Attr(
                    "primary",
                    "A Boolean value indicating the 'primary' or preferred attribute value\n"
                    "for this attribute, e.g., the preferred address.",
                    type="boolean",
                ),
            ),
        ),
        Attr(
            "groups",
            "A list of groups to which the user belongs, either through direct\n"
            "membership, through nested groups, or dynamically calculated.",
            type="complex",
            multi_valued=True,
            mutability="readOnly",
            sub_attributes=(
                Attr(
                    "value",
                    "The identifier of the User's group.",
                    case_exact=True,
                    mutability="readOnly",
                ),
                Attr(
                    "$ref",
                    "The reference URI of a target resource, if the attribute is a\nreference.",
                    type="reference",
                    case_exact=True,
                    mutability="readOnly",
                    reference_types=("Group",),
                ),
                Attr(
                    "display",
                    "A human-readable name, primarily used for display purposes.",
                    mutability="readOnly",
                ),
                Attr(
                    "type",
                    "A label indicating the attribute's function, e.g., 'direct' or\n'indirect'.",
                    mutability="readOnly",
                    canonical_values=("direct", "indirect"),
                ),
            ),
            lives=Lives.DERIVED,
        ),
        Attr(
            "entitlements",
            "A list of entitlements for the User that represent a thing the User\nhas.",
            type="complex",
            multi_valued=True,
            sub_attributes=(
                Attr(
                    "value",
                    "The value of an entitlement.",
                ),
                Attr(
                    "display",
                    "A human-readable name, primarily used for display purposes.",
                ),
                Attr(
                    "type",
                    "A label indicating the attribute's function.",
                ),
                Attr(
                    "primary",
                    "A Boolean value indicating the 'primary' or preferred attribute value\n"
                    "for this attribute.",
                    type="boolean",
                ),
            ),
        ),
        Attr(
            "roles",
            "A list of roles for the User that collectively represent who the User\n"
            "is, e.g., 'Student', 'Faculty'.",
            type="complex",
            multi_valued=True,
            sub_attributes=(
                Attr(
                    "value",
                    "The value of a role.",
                ),
                Attr(
                    "display",
                    "A human-readable name, primarily used for display purposes.",
                ),
                Attr(
                    "type",
                    "A label indicating the attribute's function.",
                ),
                Attr(
                    "primary",
                    "A Boolean value indicating the 'primary' or preferred attribute value\n"
                    "for this attribute.",
                    type="boolean",
                ),
            ),
        ),
        Attr(
            "x509Certificates",
            "A list of certificates issued to the User.",
            type="complex",
            multi_valued=True,
            sub_attributes=(
                Attr(
                    "value",
                    "The value of an X.509 certificate.",
                    type="binary",
                    case_exact=True,
                ),
                Attr(
                    "display",
                    "A human-readable name, primarily used for display purposes.",
                ),
                Attr(
                    "type",
                    "A label indicating the attribute's function.",
                ),
                Attr(
                    "primary",
                    "A Boolean value indicating the 'primary' or preferred attribute value\n"
                    "for this attribute.",
                    type="boolean",
                ),
            ),
        ),
        # Okta sends a custom attribute in the core namespace as a top-level key: accepted and
        # read as the Heap Role, never advertised (it is not RFC 7643's).
        Attr(
            "heapRole",
            case_exact=True,
            lives=Lives.DERIVED,
            filter=_ROLE,
            advertised=False,
        ),
    ),
)

ENTERPRISE = Schema(
    urn=ENTERPRISE_USER_URN,
    name="EnterpriseUser",
    description="EnterpriseUser",
    attributes=(
        Attr(
            "employeeNumber",
            "Numeric or alphanumeric identifier assigned to a person, typically based\n"
            "on order of hire or association with an organization.",
        ),
        Attr(
            "costCenter",
            "Identifies the name of a cost center.",
        ),
        Attr(
            "organization",
            "Identifies the name of an organization.",
        ),
        Attr(
            "division",
            "Identifies the name of a division.",
        ),
        Attr(
            "department",
            "Identifies the name of a department.",
        ),
        Attr(
            "manager",
            "The User's manager.\n"
            "\n"
            "A complex type that optionally allows service providers to represent\n"
            "organizational hierarchy by referencing the 'id' attribute of\n"
            "another User.",
            type="complex",
            sub_attributes=(
                Attr(
                    "value",
                    "The id of the SCIM resource representing the User's manager.",
                    required=True,
                    case_exact=True,
                ),
                Attr(
                    "$ref",
                    "The URI of the SCIM resource representing the User's manager.",
                    type="reference",
                    required=True,
                    case_exact=True,
                    reference_types=("User",),
                ),
                Attr(
                    "displayName",
                    "The displayName of the User's manager.",
                    mutability="readOnly",
                ),
            ),
        ),
    ),
)

HEAP = Schema(
    urn=HEAP_USER_URN,
    name="HeapUser",
    description="Heap attributes of a user.",
    attributes=(
        Attr(
            "heapRole",
            "The user's Heap role: the exact name of a role of the Heap account (Admin, "
            "Architect, Analyst, Consumer or a custom role). Empty means the account's SCIM "
            "default role. Also accepted as a top-level attribute (Okta core namespace) and as "
            "Entra's primary role. Read back, it is the user's current Heap role.",
            case_exact=True,
            lives=Lives.DERIVED,
            filter=_ROLE,
        ),
    ),
)

USERS = ResourceType(
    name="User",
    endpoint="/Users",
    description="A Heap teammate",
    schema=CORE,
    common=COMMON,
    extensions=(ENTERPRISE, HEAP),
)
