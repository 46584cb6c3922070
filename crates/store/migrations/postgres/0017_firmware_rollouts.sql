-- Staged firmware rollouts (issue 21). An image published for a rollout is `staged`: only a
-- rollout (or a pin) offers it, never the heartbeat's "newest image for everyone". A rollout
-- offers one image stage by stage; one rollout per hardware revision is open (active or paused)
-- at a time. Each mailbox a rollout offered its image to has one progress row; staff may pin a
-- mailbox to a version, which it is offered whatever any rollout does.
ALTER TABLE firmware_images ADD COLUMN hardware_revision TEXT NOT NULL DEFAULT 'esp32c6';
ALTER TABLE firmware_images ADD COLUMN staged BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE firmware_rollouts (
    id TEXT PRIMARY KEY,
    version TEXT NOT NULL REFERENCES firmware_images (version),
    hardware_revision TEXT NOT NULL,
    state TEXT NOT NULL,
    stage BIGINT NOT NULL,
    soak_ms BIGINT NOT NULL,
    soak_confirmed_percent BIGINT NOT NULL,
    paused_reason TEXT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX firmware_rollouts_open ON firmware_rollouts (hardware_revision)
    WHERE state IN ('active', 'paused');
CREATE INDEX firmware_rollouts_created ON firmware_rollouts (created_at);

CREATE TABLE firmware_rollout_stages (
    rollout_id TEXT NOT NULL REFERENCES firmware_rollouts (id),
    position BIGINT NOT NULL,
    percent BIGINT NOT NULL,
    started_at BIGINT,
    PRIMARY KEY (rollout_id, position)
);

CREATE TABLE firmware_rollout_devices (
    rollout_id TEXT NOT NULL REFERENCES firmware_rollouts (id),
    device_id TEXT NOT NULL REFERENCES devices (id),
    stage BIGINT NOT NULL,
    progress TEXT NOT NULL,
    offered_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (rollout_id, device_id)
);

CREATE TABLE firmware_pins (
    device_id TEXT PRIMARY KEY REFERENCES devices (id),
    version TEXT NOT NULL REFERENCES firmware_images (version),
    reason TEXT NOT NULL,
    pinned_by TEXT NOT NULL,
    pinned_at BIGINT NOT NULL
);
