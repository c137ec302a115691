"""username skeleton: no two accounts may look alike

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 07:15:00

Self-contained on purpose: the skeleton is computed here, from the
``confusable_homoglyphs`` data, as sessapp computed it when this migration was
written, so later changes to the application cannot change what it does.
An existing account whose skeleton an older account already holds keeps NULL:
both go on signing in, and no new look-alike of either can register.
"""

import hashlib
import unicodedata

import sqlalchemy as sa
from alembic import op
from confusable_homoglyphs.confusables import confusables_data

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_GENERIC_DIACRITICS = (
    (0x0300, 0x036F), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0x20D0, 0x20FF), (0xFE20, 0xFE2F),
)


def _prototype(char):
    partners = [entry["c"] for entry in confusables_data.get(char, ())]
    if len(partners) != 1:
        return char
    other = partners[0]
    if len(other) > 1 or len(confusables_data.get(other, ())) > 1:
        return other
    return min(char, other)


def _strip(text):
    return "".join(
        char for char in text
        if not any(low <= ord(char) <= high for low, high in _GENERIC_DIACRITICS)
    )


def _key(text):
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def _skeleton_hash(key):
    """SHA-256 hex of the UTS #39 skeleton of a stored username_key."""
    text = _strip(unicodedata.normalize("NFD", key))
    for _ in range(4):
        mapped = _key("".join(_prototype(c) for c in text))
        mapped = _strip(unicodedata.normalize("NFD", mapped))
        if mapped == text:
            break
        text = mapped
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("username_skeleton", sa.String(length=64), nullable=True))

    users = sa.table("users", sa.column("id", sa.Integer()),
                     sa.column("username_key", sa.String()),
                     sa.column("username_skeleton", sa.String()))
    connection = op.get_bind()
    seen = set()
    rows = connection.execute(sa.select(users.c.id, users.c.username_key).order_by(users.c.id))
    for row_id, key in rows.all():
        skeleton = _skeleton_hash(key)
        if skeleton in seen:
            continue
        seen.add(skeleton)
        connection.execute(
            users.update().where(users.c.id == row_id).values(username_skeleton=skeleton)
        )

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_unique_constraint(
            batch_op.f("uq_users_username_skeleton"), ["username_skeleton"]
        )


def downgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_users_username_skeleton"), type_="unique")
        batch_op.drop_column("username_skeleton")
