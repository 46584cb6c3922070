-- The optional morning digest email (issue 7): customers who asked for it.
CREATE TABLE notification_digests (
    user_id TEXT PRIMARY KEY REFERENCES users (id),
    enabled BOOLEAN NOT NULL,
    updated_at BIGINT NOT NULL
);
