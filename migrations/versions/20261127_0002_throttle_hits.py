"""throttle hits

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 06:30:38.309856
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def timestamp():
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def exact_string(length):
    return sa.String(length).with_variant(
        mysql.VARCHAR(length, collation="utf8mb4_bin"), "mysql", "mariadb"
    )


def upgrade():
    op.create_table(
        "throttle_hits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=20), nullable=False),
        sa.Column("key", exact_string(600), nullable=False),
        sa.Column("occurred_at", timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_throttle_hits")),
    )
    with op.batch_alter_table("throttle_hits", schema=None) as batch_op:
        batch_op.create_index(
            "ix_throttle_hits_lookup", ["scope", "key", "occurred_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_throttle_hits_occurred_at"), ["occurred_at"], unique=False
        )


def downgrade():
    with op.batch_alter_table("throttle_hits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_throttle_hits_occurred_at"))
        batch_op.drop_index("ix_throttle_hits_lookup")

    op.drop_table("throttle_hits")
