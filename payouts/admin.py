"""The payouts admin: refunds for office staff (refund_admin), batches for finance (batch_admin)."""

from payouts import batch_admin, refund_admin  # noqa: F401
