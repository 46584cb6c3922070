-- Support tickets (issue 20): a customer's question with its thread. Messages marked internal
-- are staff notes the customer never sees. `context` is the JSON snapshot of the mailbox and
-- the account taken when the ticket was opened (staff only). `version` guards status changes.
CREATE TABLE tickets (
    id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES users (id),
    device_id TEXT REFERENCES devices (id),
    subject TEXT NOT NULL,
    category TEXT NOT NULL,
    status TEXT NOT NULL,
    priority TEXT NOT NULL,
    assignee_id TEXT REFERENCES users (id),
    context TEXT NOT NULL,
    first_response_due_at BIGINT NOT NULL,
    first_responded_at BIGINT,
    solved_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    version BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX tickets_customer ON tickets (customer_id, updated_at);
CREATE INDEX tickets_status_due ON tickets (status, first_response_due_at);
CREATE TABLE ticket_messages (
    id TEXT PRIMARY KEY,
    ticket_id TEXT NOT NULL REFERENCES tickets (id),
    author_id TEXT REFERENCES users (id),
    from_staff BOOLEAN NOT NULL,
    internal BOOLEAN NOT NULL DEFAULT FALSE,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX ticket_messages_ticket ON ticket_messages (ticket_id, created_at);
-- Answers staff reuse, by title.
CREATE TABLE saved_replies (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    created_by TEXT REFERENCES users (id),
    created_at BIGINT NOT NULL
);
