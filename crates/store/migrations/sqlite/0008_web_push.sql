-- Web push (issue 7): the browsers that subscribed, and the server's VAPID key pair (made on the
-- first run, the private key sealed with the master key).
CREATE TABLE push_subscriptions (
    endpoint TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    p256dh TEXT NOT NULL,
    auth TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX push_subscriptions_user ON push_subscriptions (user_id);

CREATE TABLE server_keys (
    name TEXT PRIMARY KEY,
    ciphertext BLOB NOT NULL,
    created_at BIGINT NOT NULL
);
