-- The rest of staged rollouts (issue 21).
-- A soak per stage: each stage keeps its own minimum time and confirmed share (a rollout's
-- `soak_ms` and `soak_confirmed_percent` stay as the default its stages were given).
ALTER TABLE firmware_rollout_stages ADD COLUMN soak_ms BIGINT;
ALTER TABLE firmware_rollout_stages ADD COLUMN soak_confirmed_percent BIGINT;
UPDATE firmware_rollout_stages SET
    soak_ms = (SELECT r.soak_ms FROM firmware_rollouts r
               WHERE r.id = firmware_rollout_stages.rollout_id),
    soak_confirmed_percent = (SELECT r.soak_confirmed_percent FROM firmware_rollouts r
                              WHERE r.id = firmware_rollout_stages.rollout_id);

-- Staff's tags on mailboxes: short lowercase words (`pilot`, `north-depot`).
CREATE TABLE device_tags (
    device_id TEXT NOT NULL REFERENCES devices (id),
    tag TEXT NOT NULL,
    tagged_by TEXT NOT NULL,
    tagged_at BIGINT NOT NULL,
    PRIMARY KEY (device_id, tag)
);
CREATE INDEX device_tags_tag ON device_tags (tag);

-- A rollout aimed at a tag: its mailboxes are fixed at the start (written to
-- firmware_rollout_targets then); the tag is kept to show what was meant.
ALTER TABLE firmware_rollouts ADD COLUMN target_tag TEXT;

-- The board revision each mailbox reports (firmware before the report: the ESP32-C6 board);
-- written when it changes, not per heartbeat.
ALTER TABLE devices ADD COLUMN hardware_revision TEXT NOT NULL DEFAULT 'esp32c6';
