-- Rollouts aimed at an explicit list of mailboxes (issue 21). A rollout with rows here reaches
-- only these serials, its stages' percentages taken among them; one without reaches every
-- mailbox in service, as before.
CREATE TABLE firmware_rollout_targets (
    rollout_id TEXT NOT NULL REFERENCES firmware_rollouts (id),
    serial TEXT NOT NULL,
    PRIMARY KEY (rollout_id, serial)
);
