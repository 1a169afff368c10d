"""checkin_use keyed by the EIP-712 digest of the signed check-in, not by the signature's bytes (written by hand)

Rows already there hold signature hashes under the new name: they match no digest, which is harmless, since a
check-in older than its 300-second freshness window is refused anyway.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 19:30:00
"""
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('checkin_use', schema=None) as batch_op:
        batch_op.alter_column('signature_hash', new_column_name='digest')


def downgrade() -> None:
    with op.batch_alter_table('checkin_use', schema=None) as batch_op:
        batch_op.alter_column('digest', new_column_name='signature_hash')
