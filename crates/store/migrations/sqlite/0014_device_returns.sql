-- Returns (issue 17): a customer starts a return with a reason and gets an RMA number for the
-- packing slip; the mailbox stays in service until the warehouse receives it, and the customer
-- may cancel the return until then. At most one open return per mailbox.
CREATE TABLE device_returns (
    id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL REFERENCES devices (id),
    customer_id TEXT NOT NULL REFERENCES users (id),
    rma TEXT NOT NULL UNIQUE,
    reason TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    canceled_at BIGINT,
    received_at BIGINT
);
CREATE UNIQUE INDEX device_returns_open ON device_returns (device_id)
    WHERE canceled_at IS NULL AND received_at IS NULL;
