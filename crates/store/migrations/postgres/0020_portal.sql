-- The customer portal's second pass (issue 17).
-- The saved card as the billing page shows it ("Visa ending 4242, expires 12/30"), kept from
-- the payment provider when the card is saved and forgotten with it; NULL for cards saved
-- before (the page then says only that a card is on file).
ALTER TABLE users ADD COLUMN card_brand TEXT;
ALTER TABLE users ADD COLUMN card_last4 TEXT;
ALTER TABLE users ADD COLUMN card_exp_month BIGINT;
ALTER TABLE users ADD COLUMN card_exp_year BIGINT;

-- A change of email waiting for its link (sent to the new address): single use, expires.
CREATE TABLE email_changes (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    new_email TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX email_changes_user ON email_changes (user_id);
