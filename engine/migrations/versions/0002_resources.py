"""Accounts, API keys, external and hosted scripts, numbers, rules, SIP accounts.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)
SID = sa.String(34)


def _account() -> sa.Column:
    return sa.Column(
        "account_sid", SID, sa.ForeignKey("accounts.sid", ondelete="CASCADE"), nullable=False
    )


def _resource(name: str, *columns: sa.Column | sa.Constraint) -> None:
    op.create_table(
        name,
        sa.Column("id", SID, primary_key=True),
        _account(),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        *columns,
    )
    op.create_index(f"ix_{name}_account_sid", name, ["account_sid"])


def _routed() -> list[sa.Column]:
    return [
        sa.Column(
            "externalscript_id",
            SID,
            sa.ForeignKey("externalscripts.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column(
            "script_id", SID, sa.ForeignKey("scripts.id", ondelete="SET NULL"), nullable=True
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "settings",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.create_table(
        "accounts",
        sa.Column("sid", SID, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("webhook_secrets", sa.JSON(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("sid", SID, primary_key=True),
        _account(),
        sa.Column("secret_hash", sa.String(128), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("revoked_at", TIME, nullable=True),
    )
    op.create_index("ix_api_keys_account_sid", "api_keys", ["account_sid"])
    _resource(
        "externalscripts",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("fallback_url", sa.Text(), nullable=True),
        sa.Column("method", sa.String(8), nullable=False),
    )
    _resource(
        "scripts",
        sa.Column("name", sa.String(29), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.UniqueConstraint("account_sid", "name"),
    )
    _resource(
        "numbers",
        *_routed(),
        sa.Column("number", sa.String(20), nullable=False, unique=True),
        sa.Column("fallback_url", sa.Text(), nullable=True),
        sa.Column("status_callback", sa.Text(), nullable=True),
        sa.Column("status_callback_method", sa.String(8), nullable=False),
        sa.Column("status_callback_event", sa.JSON(), nullable=False),
        sa.Column("status_callback_format", sa.String(8), nullable=False),
    )
    _resource(
        "rules",
        *_routed(),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("pattern", sa.String(255), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
    )
    op.create_index("ix_rules_account_position", "rules", ["account_sid", "position"])
    _resource(
        "sipaccounts",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("password", sa.String(128), nullable=False),
        sa.Column("internal_name", sa.String(64), nullable=False),
        sa.Column("internal_number", sa.String(32), nullable=False),
        sa.Column("external_name", sa.String(64), nullable=False),
        sa.Column("external_number", sa.String(32), nullable=False),
        sa.Column("mwi_account", sa.String(64), nullable=False),
    )
    # the API's lists of 0001's tables, newest first within an account
    op.create_index(
        "ix_call_records_account_start", "call_records", ["account_sid", "start_time", "sid"]
    )
    op.create_index(
        "ix_deliveries_account_created", "deliveries", ["account_sid", "created_at", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_account_created", "deliveries")
    op.drop_index("ix_call_records_account_start", "call_records")
    for name in ("sipaccounts", "rules", "numbers", "scripts", "externalscripts", "api_keys"):
        op.drop_table(name)
    op.drop_table("accounts")
    op.drop_table("settings")
