-- A device's latest vitals and last-seen time are its newest row of the vitals series rather than
-- a copy on the devices row: every heartbeat then writes the series alone, not also the wide
-- devices row (that copy was a third of the pages each group commit wrote, and the heartbeat's
-- p99 followed the pages written). One row per (device, instant) makes "the newest row" exact.

-- A device that was seen but somehow has no series row keeps what it last reported.
INSERT INTO device_vitals (device_id, recorded_at, battery_percentage, power_state, signal_dbm, network,
    firmware_version, modem_tx_bytes, modem_rx_bytes, sd_queue_len)
SELECT id, last_seen_at, COALESCE(battery_percentage, 0), power_state, COALESCE(signal_dbm, 0),
    COALESCE(network, 'cellular'), COALESCE(firmware_version, ''), COALESCE(modem_tx_bytes, 0),
    COALESCE(modem_rx_bytes, 0), COALESCE(sd_queue_len, 0)
FROM devices d
WHERE last_seen_at IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM device_vitals v WHERE v.device_id = d.id);

-- Two reports of one device at the same millisecond: the later written stands.
DELETE FROM device_vitals WHERE rowid NOT IN (
    SELECT MAX(rowid) FROM device_vitals GROUP BY device_id, recorded_at
);
DROP INDEX device_vitals_device_time;
CREATE UNIQUE INDEX device_vitals_device_time ON device_vitals (device_id, recorded_at);

ALTER TABLE devices DROP COLUMN power_state;
ALTER TABLE devices DROP COLUMN battery_percentage;
ALTER TABLE devices DROP COLUMN firmware_version;
ALTER TABLE devices DROP COLUMN signal_dbm;
ALTER TABLE devices DROP COLUMN network;
ALTER TABLE devices DROP COLUMN sd_queue_len;
ALTER TABLE devices DROP COLUMN modem_tx_bytes;
ALTER TABLE devices DROP COLUMN modem_rx_bytes;
ALTER TABLE devices DROP COLUMN last_seen_at;
