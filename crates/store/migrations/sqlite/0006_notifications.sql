-- Notifications (issue 7): one delivery record per (event, channel, destination) — attempted,
-- held by quiet hours, delivered or failed with the reason — and each customer's outbound webhook.
-- Preferences per device and channel, quiet hours and the time zone are the portal's (0003).

CREATE TABLE notification_deliveries (
    -- Also the delivery key the peers see (Message-ID, Idempotency-Key, push Topic).
    id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL REFERENCES mail_events (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    channel TEXT NOT NULL CHECK (channel IN ('email', 'push', 'webhook', 'home_assistant')),
    -- The address, URL or mailbox serial it went to.
    destination TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('attempted', 'held', 'delivered', 'failed')),
    reason TEXT,
    attempts BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (event_id, channel, destination)
);
CREATE INDEX notification_deliveries_user ON notification_deliveries (user_id, channel, created_at);
CREATE INDEX notification_deliveries_created ON notification_deliveries (created_at);

-- One webhook per customer. The signing secret is sealed with the master key (the customer sees
-- it once, when it is made).
CREATE TABLE customer_webhooks (
    user_id TEXT PRIMARY KEY REFERENCES users (id),
    url TEXT NOT NULL,
    secret_ciphertext BLOB NOT NULL,
    created_at BIGINT NOT NULL
);
