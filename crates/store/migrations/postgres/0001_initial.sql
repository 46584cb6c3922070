-- Initial schema. Portable columns: BIGINT epoch milliseconds (UTC), TEXT uuids, TEXT json,
-- integer cents. The PostgreSQL twin of this file differs only in binary and identity column types.

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('customer', 'support', 'admin')),
    display_name TEXT NOT NULL DEFAULT '',
    time_zone TEXT NOT NULL DEFAULT 'UTC',
    provider_customer_id TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE plans (
    id TEXT PRIMARY KEY,
    price_cents BIGINT NOT NULL,
    notification_limit BIGINT,
    data_limit_bytes BIGINT NOT NULL,
    notification_overage_cents BIGINT,
    data_overage_per_100mb_cents BIGINT NOT NULL
);

CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    serial TEXT NOT NULL UNIQUE,
    secret_ciphertext BYTEA NOT NULL,
    claim_code_hash TEXT NOT NULL,
    owner_id TEXT REFERENCES users (id),
    lifecycle_state TEXT NOT NULL,
    power_state TEXT NOT NULL DEFAULT 'sleep',
    battery_percentage BIGINT,
    firmware_version TEXT,
    name TEXT NOT NULL DEFAULT '',
    location TEXT NOT NULL DEFAULT '',
    signal_dbm BIGINT,
    network TEXT,
    sd_queue_len BIGINT,
    modem_tx_bytes BIGINT,
    modem_rx_bytes BIGINT,
    checkin_interval_s BIGINT NOT NULL DEFAULT 21600,
    last_seen_at BIGINT,
    activated_at BIGINT,
    claimed_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX devices_owner ON devices (owner_id);

CREATE TABLE subscriptions (
    id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL REFERENCES devices (id),
    customer_id TEXT NOT NULL REFERENCES users (id),
    plan_id TEXT NOT NULL REFERENCES plans (id),
    pending_plan_id TEXT REFERENCES plans (id),
    status TEXT NOT NULL,
    anchor_at BIGINT NOT NULL,
    current_period_start BIGINT NOT NULL,
    current_period_end BIGINT NOT NULL,
    cancel_at_period_end BOOLEAN NOT NULL DEFAULT FALSE,
    spend_cap_cents BIGINT,
    past_due_since BIGINT,
    payment_method_id TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX subscriptions_device ON subscriptions (device_id);
CREATE INDEX subscriptions_customer ON subscriptions (customer_id);
-- At most one live subscription per device.
CREATE UNIQUE INDEX subscriptions_one_live_per_device ON subscriptions (device_id) WHERE status <> 'canceled';

CREATE TABLE usage_periods (
    subscription_id TEXT NOT NULL REFERENCES subscriptions (id),
    period_start BIGINT NOT NULL,
    period_end BIGINT NOT NULL,
    notifications BIGINT NOT NULL DEFAULT 0,
    data_bytes BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (subscription_id, period_start)
);

CREATE TABLE invoices (
    id TEXT PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    subscription_id TEXT NOT NULL REFERENCES subscriptions (id),
    customer_id TEXT NOT NULL REFERENCES users (id),
    kind TEXT NOT NULL CHECK (kind IN ('renewal', 'proration')),
    period_start BIGINT NOT NULL,
    period_end BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('draft', 'open', 'paid', 'uncollectible', 'void')),
    total_cents BIGINT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    paid_at BIGINT
);
-- One renewal invoice per (subscription, period): a billing pass that runs twice bills once.
CREATE UNIQUE INDEX invoices_one_renewal_per_period ON invoices (subscription_id, period_start) WHERE kind = 'renewal';
CREATE INDEX invoices_customer ON invoices (customer_id, created_at);

CREATE TABLE invoice_lines (
    invoice_id TEXT NOT NULL REFERENCES invoices (id),
    position BIGINT NOT NULL,
    description TEXT NOT NULL,
    amount_cents BIGINT NOT NULL,
    PRIMARY KEY (invoice_id, position)
);

CREATE TABLE payments (
    id TEXT PRIMARY KEY,
    invoice_id TEXT NOT NULL REFERENCES invoices (id),
    amount_cents BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'unknown', 'refunded')),
    provider TEXT NOT NULL,
    provider_payment_id TEXT,
    failure_code TEXT,
    failure_message TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- Never two successful payments for one invoice.
CREATE UNIQUE INDEX payments_one_success_per_invoice ON payments (invoice_id) WHERE status = 'succeeded';

CREATE TABLE mail_events (
    id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL REFERENCES devices (id),
    subscription_id TEXT REFERENCES subscriptions (id),
    kind TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    photo_count BIGINT NOT NULL,
    photos_received BIGINT NOT NULL DEFAULT 0,
    category TEXT,
    completed_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX mail_events_device_time ON mail_events (device_id, occurred_at, id);

CREATE TABLE photos (
    event_id TEXT NOT NULL REFERENCES mail_events (id),
    idx BIGINT NOT NULL,
    blob_key TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (event_id, idx)
);

CREATE TABLE device_vitals (
    device_id TEXT NOT NULL REFERENCES devices (id),
    recorded_at BIGINT NOT NULL,
    battery_percentage BIGINT NOT NULL,
    power_state TEXT NOT NULL,
    signal_dbm BIGINT NOT NULL,
    network TEXT NOT NULL,
    firmware_version TEXT NOT NULL,
    modem_tx_bytes BIGINT NOT NULL,
    modem_rx_bytes BIGINT NOT NULL,
    sd_queue_len BIGINT NOT NULL
);
CREATE INDEX device_vitals_device_time ON device_vitals (device_id, recorded_at);

CREATE TABLE firmware_images (
    version TEXT PRIMARY KEY,
    size_bytes BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    signature TEXT NOT NULL,
    blob_key TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE firmware_reports (
    device_id TEXT NOT NULL REFERENCES devices (id),
    version TEXT NOT NULL,
    status TEXT NOT NULL,
    detail TEXT,
    reported_at BIGINT NOT NULL
);
CREATE INDEX firmware_reports_device ON firmware_reports (device_id, version);

CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    unique_key TEXT UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    run_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL,
    last_error TEXT,
    locked_by TEXT,
    locked_until BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX jobs_due ON jobs (status, run_at);

CREATE TABLE stripe_events (
    id TEXT PRIMARY KEY,
    event_type TEXT NOT NULL,
    created BIGINT NOT NULL,
    processed_at BIGINT NOT NULL
);

CREATE TABLE audit_log (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_entity ON audit_log (entity_type, entity_id, at);
