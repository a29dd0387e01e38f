"""Webhook signing secrets encrypted at rest: the column grows from VARCHAR(128) to TEXT.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25

An encrypted secret (`v1:<key id>:<base64url(nonce, ciphertext, tag)>`) of the longest
accepted secret does not fit 128 characters. Rows keep their values: a secret stored before
encryption (it starts with `whsec_`) is still read as it is (domain/adapters/db/webhooks.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhooks") as batch:
        batch.alter_column("secret", type_=sa.Text(), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("webhooks") as batch:
        batch.alter_column("secret", type_=sa.String(128), existing_nullable=False)
