-- The admin console (issue 16): when staff shipped a mailbox and received it back, and the
-- indexes the inventory and the audit trail filter by.
ALTER TABLE devices ADD COLUMN shipped_at BIGINT;
ALTER TABLE devices ADD COLUMN return_received_at BIGINT;
CREATE INDEX devices_lifecycle_serial ON devices (lifecycle_state, serial);
CREATE INDEX audit_log_at ON audit_log (at, id);
CREATE INDEX audit_log_actor_at ON audit_log (actor, at);
