"""api token scopes: what each token may do

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-04 07:20:00

Tokens made before scopes existed get ``read write``: every API request they
could make before still works (making tokens aside, which no token may do any
more), while the ``admin`` scope, the one that matters most, must be asked for
again on a new token, with the password.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

EXISTING_TOKENS_SCOPES = "read write"


def upgrade():
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scopes", sa.String(length=100), nullable=True))
    tokens = sa.table("api_tokens", sa.column("scopes", sa.String()))
    op.execute(tokens.update().values(scopes=EXISTING_TOKENS_SCOPES))
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.alter_column("scopes", existing_type=sa.String(length=100), nullable=False)


def downgrade():
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("scopes")
