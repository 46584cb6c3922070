-- The customer portal: server-side sessions, password-reset links, the attempts that rate limiting
-- counts, notification preferences per device and channel, and the customer's quiet hours.

CREATE TABLE sessions (
    -- SHA-256 (hex) of the cookie's token: a database leak does not hand out live sessions.
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE password_resets (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);

-- One row per failed attempt (login per account, login per address, claim per address).
CREATE TABLE auth_attempts (
    scope TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX auth_attempts_scope_at ON auth_attempts (scope, at);

CREATE TABLE notification_prefs (
    device_id TEXT NOT NULL REFERENCES devices (id),
    channel TEXT NOT NULL CHECK (channel IN ('email', 'push', 'sms')),
    enabled BOOLEAN NOT NULL,
    PRIMARY KEY (device_id, channel)
);

-- Quiet hours as minutes after local midnight; both NULL = none.
ALTER TABLE users ADD COLUMN quiet_start_min BIGINT;
ALTER TABLE users ADD COLUMN quiet_end_min BIGINT;
