-- Billing engine: optimistic concurrency on subscriptions, the customer's default card, invoice
-- numbers, one in-flight payment attempt per invoice, and what webhook events already said.
-- The PostgreSQL twin differs only in how invoice numbers are drawn (a sequence there).

-- Bumped by every billing write; a write that read an older version is refused and recomputed.
ALTER TABLE subscriptions ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
CREATE INDEX subscriptions_due ON subscriptions (current_period_end) WHERE status <> 'canceled';

-- The customer's card for off-session charges, and the `created` (unix seconds) of the newest
-- payment-method change applied, so an older webhook never brings back a replaced card.
ALTER TABLE users ADD COLUMN default_payment_method_id TEXT;
ALTER TABLE users ADD COLUMN payment_method_changed_at BIGINT;

-- A draft proration too small to charge alone names the invoice that carried it.
ALTER TABLE invoices ADD COLUMN carried_into TEXT REFERENCES invoices (id);
CREATE INDEX invoices_subscription_status ON invoices (subscription_id, status);

-- The `created` (unix seconds) of the newest webhook event applied to this payment.
ALTER TABLE payments ADD COLUMN provider_event_created BIGINT;
CREATE INDEX payments_invoice ON payments (invoice_id, created_at);
CREATE INDEX payments_provider_payment ON payments (provider_payment_id);
CREATE INDEX payments_in_flight ON payments (status, created_at) WHERE status IN ('pending', 'unknown');
-- Never two attempts of one invoice at the provider at once: a second charge must wait until the
-- first one's outcome is known (or reconciled).
CREATE UNIQUE INDEX payments_one_in_flight_per_invoice ON payments (invoice_id) WHERE status IN ('pending', 'unknown');

CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('invoice_number', 0);
