"""anonymous sessions by ip: the index session.anonymous_max_per_ip trims through

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 11:40:00

When an anonymous session is stored, the address's oldest anonymous sessions
beyond the setting are ended; this index finds them without reading any other
address's rows.
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.create_index("ix_sessions_ip_user_id_created_at",
                              ["ip", "user_id", "created_at"], unique=False)


def downgrade():
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_sessions_ip_user_id_created_at")
