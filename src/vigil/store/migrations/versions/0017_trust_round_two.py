"""Trust, round two: the login throttle in the database (per address per minute, and the doubling
wait an address gets while an account is under a distributed guess); endpoints suspended when their
address fails the outbound guard; image-carrying rules proposed until a second admin approves them;
authorisation requests waiting for an authoriser's signature.

Plain ADD COLUMNs and new tables (no SQLite rebuild, which would drop 0010's triggers).

Revision ID: 0017
Revises: 0016
"""

import ipaddress
import os
from urllib.parse import urlsplit

import sqlalchemy as sa
from alembic import op

from vigil.netguard import OutboundRefused, Target, checked_addresses, parse_networks
from vigil.store.models import UtcDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def _literal_only(host: str) -> list[str]:
    """At upgrade only literal addresses and localhost are judged; names are checked at every connection."""
    try:
        return [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        return []


def upgrade() -> None:
    op.add_column("login_failures", sa.Column("refused", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("login_failures", sa.Column("retry_at", UtcDateTime(), nullable=True))
    op.create_table(
        "login_throttle",
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("window_start", UtcDateTime(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column("notify_endpoints", sa.Column("suspended", sa.Text(), nullable=False, server_default=""))
    op.add_column("notify_rules", sa.Column("state", sa.String(16), nullable=False, server_default="approved"))
    op.add_column("notify_rules", sa.Column("approved_by", sa.String(64), nullable=False, server_default=""))
    op.add_column("notify_rules", sa.Column("digest", sa.String(64), nullable=False, server_default=""))
    op.create_table(
        "authorisation_requests",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False, server_default=""),
        sa.Column("requested_by", sa.String(32), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("cameras", sa.JSON(), nullable=False),
        sa.Column("camera_groups", sa.JSON(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("subjects", sa.JSON(), nullable=False),
        sa.Column("starts_at", UtcDateTime(), nullable=False),
        sa.Column("ends_at", UtcDateTime(), nullable=False),
        sa.Column("review_date", sa.Date(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False, server_default="requested"),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    bind = op.get_bind()
    # Rules that carry a face or a watchlist photo off the system wait for a second admin from now on.
    bind.execute(
        sa.text("UPDATE notify_rules SET state = 'proposed' WHERE include_crop = :yes OR include_photo = :yes"),
        {"yes": True},
    )
    # Endpoints whose address the guard now refuses are suspended (kept, shown as such, sent nothing).
    allowed = parse_networks(os.environ.get("VIGIL_OUTBOUND_ALLOWED_NETWORKS", ""))
    for endpoint_id, kind, url in bind.execute(sa.text("SELECT id, kind, url FROM notify_endpoints")).all():
        target = Target.WEBHOOK if kind == "webhook" else Target.BROKER
        try:
            checked_addresses(urlsplit(url).hostname or "", target, allowed, resolver=_literal_only, unresolved_ok=True)
        except (OutboundRefused, ValueError) as exc:
            bind.execute(
                sa.text("UPDATE notify_endpoints SET suspended = :why WHERE id = :id"),
                {"why": f"suspended at upgrade: {exc}"[:500], "id": endpoint_id},
            )


def downgrade() -> None:
    op.drop_table("authorisation_requests")
    with op.batch_alter_table("notify_rules") as batch:
        for name in ("digest", "approved_by", "state"):
            batch.drop_column(name)
    with op.batch_alter_table("notify_endpoints") as batch:
        batch.drop_column("suspended")
    op.drop_table("login_throttle")
    with op.batch_alter_table("login_failures") as batch:
        batch.drop_column("retry_at")
        batch.drop_column("refused")
