-- WiFi credentials from the portal (issue 24): the SSID and passphrase sealed with the master
-- key, their version (unix ms of the save, which the device reports back once it holds them),
-- and what the device last reported about them.
CREATE TABLE device_wifi (
    device_id TEXT PRIMARY KEY REFERENCES devices (id),
    ssid TEXT NOT NULL,
    sealed BYTEA NOT NULL,
    version BIGINT NOT NULL,
    reported_version BIGINT NOT NULL DEFAULT 0,
    reported_status TEXT,
    reported_at BIGINT,
    updated_at BIGINT NOT NULL
);
