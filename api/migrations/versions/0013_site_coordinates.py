"""sites: coordinates (latitude, longitude), for "the nearest site" to a shared location

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 14:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COORDINATES = ("(latitude IS NULL AND longitude IS NULL)"
               " OR (latitude IS NOT NULL AND longitude IS NOT NULL"
               " AND latitude BETWEEN -90 AND 90 AND longitude BETWEEN -180 AND 180)")


def upgrade() -> None:
    # Existing sites get no position: staff set them (PATCH /sites/{id}); until then a site is simply
    # not offered as "nearest".
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.add_column(sa.Column('latitude', sa.Double(), nullable=True))
        batch_op.add_column(sa.Column('longitude', sa.Double(), nullable=True))
        batch_op.create_check_constraint(op.f('ck_sites_coordinates'), sa.text(COORDINATES))


def downgrade() -> None:
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_sites_coordinates'), type_='check')
        batch_op.drop_column('longitude')
        batch_op.drop_column('latitude')
