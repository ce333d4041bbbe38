-- The lock-update-insert transaction of a card purchase, in raw SQL: the pgbench baseline of
-- bench/lunch_rush/pgbench.py (pgbench -n -c 32 -f bench/purchase.sql -D holder_min=... ...).
-- One cardholder's extra account, chosen at random, is locked, debited and written to the ledger
-- (a transaction, two entries summing to zero, the sale row), as purchase_create does; the
-- entries keep `manage.py ledger_check` clean. The casts let it run with -M prepared too.
\set holder random(:holder_min, :holder_max)
BEGIN;
SELECT a.id AS account, a.balance_cents AS balance, c.id AS card
  FROM payments_ledgeraccount a JOIN cards_card c ON c.holder_id = a.holder_id
 WHERE a.holder_id = :holder::bigint AND a.kind = 'extra'
   FOR UPDATE OF a \gset
UPDATE payments_ledgeraccount SET balance_cents = balance_cents - :price::bigint WHERE id = :account::bigint;
INSERT INTO payments_ledgertransaction (kind, created_at, institution_id, reason)
VALUES ('sale', now(), :institution::bigint, '') RETURNING id AS txn \gset
INSERT INTO payments_ledgerentry (transaction_id, account_id, amount_cents, balance_after_cents)
VALUES (:txn::bigint, :account::bigint, 0 - :price::bigint, :balance::bigint - :price::bigint),
       (:txn::bigint, :revenue::bigint, :price::bigint, NULL);
INSERT INTO canteen_sale (institution_id, place, terminal_id, card_id, holder_id, payment, total_cents,
                          extra_after_cents, ledger_transaction_id, receipt_token, created_at)
VALUES (:institution::bigint, 'pgbench', NULL, :card::bigint, :holder::bigint, 'card', :price::bigint,
        :balance::bigint - :price::bigint, :txn::bigint, substr(md5(random()::text), 1, 22), now());
COMMIT;
