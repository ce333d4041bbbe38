"""Refund requests and payout batches (NemKonto, SEPA) arrive with the back-office work."""
