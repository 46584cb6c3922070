-- Staff credits (issue 16): an admin credits a subscription some cents with a reason; the next
-- invoice the billing engine builds for it takes the credit as a negative line and names itself
-- here, so a credit is applied once. Pending credits are those not yet applied.
CREATE TABLE credits (
    id TEXT PRIMARY KEY,
    subscription_id TEXT NOT NULL REFERENCES subscriptions (id),
    customer_id TEXT NOT NULL REFERENCES users (id),
    amount_cents BIGINT NOT NULL CHECK (amount_cents > 0),
    description TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    applied_invoice_id TEXT REFERENCES invoices (id)
);
CREATE INDEX credits_pending ON credits (subscription_id) WHERE applied_invoice_id IS NULL;
CREATE INDEX credits_customer ON credits (customer_id, created_at);
