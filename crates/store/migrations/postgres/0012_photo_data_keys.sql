-- Photo encryption at rest (issue 18): one data key per customer, wrapped (AES-256-GCM) by the
-- master key. Photos and thumbnails in the blob store name the key that sealed them, so a
-- customer's photos stay readable whatever happens to their mailboxes, and deleting the key
-- makes them unreadable for good.
CREATE TABLE photo_data_keys (
    id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL UNIQUE REFERENCES users (id),
    wrapped_key BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
