"""relay_job.block_hash: the block a relayed transaction was mined in, so a reorg that drops or moves it is seen
(written by hand)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 20:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('relay_job', schema=None) as batch_op:
        batch_op.add_column(sa.Column('block_hash', sa.String(length=66), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('relay_job', schema=None) as batch_op:
        batch_op.drop_column('block_hash')
