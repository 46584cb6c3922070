-- Mail intelligence (issue 22): what each event's photos show, read by the classify_event job.
-- mail_kind is delivery / collection / false_trigger (the device's own kind stays in kind);
-- category (already there) and the confidences (percent) are the job's or, once corrected_at is
-- set, the customer's. mail_features keeps the delivery's measurements, so a correction becomes
-- a labelled example of that mailbox.
ALTER TABLE mail_events ADD COLUMN mail_kind TEXT;
ALTER TABLE mail_events ADD COLUMN kind_confidence BIGINT;
ALTER TABLE mail_events ADD COLUMN category_confidence BIGINT;
ALTER TABLE mail_events ADD COLUMN mail_features TEXT;
ALTER TABLE mail_events ADD COLUMN classified_at BIGINT;
ALTER TABLE mail_events ADD COLUMN corrected_at BIGINT;
CREATE INDEX mail_events_device_mail_kind ON mail_events (device_id, mail_kind, occurred_at);

-- Each mailbox's references: small frames of the box after its last collection (empty) and after
-- its last event (last), sealed under the owner's photo key like the photos they come from.
-- last_event_id guards the update: two events read against one reference cannot both move it.
CREATE TABLE mailbox_references (
    device_id TEXT PRIMARY KEY REFERENCES devices (id),
    empty_frame BYTEA,
    last_frame BYTEA,
    last_event_id TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- "Notify me only for deliveries": collections are then not notified (nor counted).
ALTER TABLE devices ADD COLUMN notify_deliveries_only BOOLEAN NOT NULL DEFAULT FALSE;
