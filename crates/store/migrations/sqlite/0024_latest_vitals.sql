-- Each device's newest vitals, kept beside the series by triggers. Lists that filter on the
-- latest reading (the admin inventory by battery, signal, firmware or silence; the overview's
-- overdue count) otherwise evaluated "the newest row of the series" once per device. Triggers
-- rather than a second statement in the heartbeat's batch keep "latest = newest row of the
-- series" true for every writer.
CREATE TABLE device_latest_vitals (
    device_id TEXT PRIMARY KEY REFERENCES devices (id),
    recorded_at BIGINT NOT NULL,
    battery_percentage BIGINT NOT NULL,
    power_state TEXT NOT NULL,
    signal_dbm BIGINT NOT NULL,
    network TEXT NOT NULL,
    firmware_version TEXT NOT NULL,
    modem_tx_bytes BIGINT NOT NULL,
    modem_rx_bytes BIGINT NOT NULL,
    sd_queue_len BIGINT NOT NULL,
    sd_oldest_age_s BIGINT,
    sd_failed_deliveries BIGINT
);

INSERT INTO device_latest_vitals
SELECT v.device_id, v.recorded_at, v.battery_percentage, v.power_state, v.signal_dbm, v.network,
    v.firmware_version, v.modem_tx_bytes, v.modem_rx_bytes, v.sd_queue_len, v.sd_oldest_age_s,
    v.sd_failed_deliveries
FROM device_vitals v
WHERE v.recorded_at = (SELECT MAX(w.recorded_at) FROM device_vitals w WHERE w.device_id = v.device_id);

-- A row of the series written or rewritten becomes the latest unless a newer one is there. (Not
-- INSERT OR REPLACE: a trigger takes the conflict policy of the statement that fired it, and the
-- heartbeat's upsert into the series would turn REPLACE into ABORT.)
CREATE TRIGGER device_vitals_latest_on_insert AFTER INSERT ON device_vitals
WHEN NOT EXISTS (SELECT 1 FROM device_latest_vitals l
                 WHERE l.device_id = NEW.device_id AND l.recorded_at > NEW.recorded_at)
BEGIN
    DELETE FROM device_latest_vitals WHERE device_id = NEW.device_id;
    INSERT INTO device_latest_vitals VALUES (NEW.device_id, NEW.recorded_at,
        NEW.battery_percentage, NEW.power_state, NEW.signal_dbm, NEW.network,
        NEW.firmware_version, NEW.modem_tx_bytes, NEW.modem_rx_bytes, NEW.sd_queue_len,
        NEW.sd_oldest_age_s, NEW.sd_failed_deliveries);
END;

CREATE TRIGGER device_vitals_latest_on_update AFTER UPDATE ON device_vitals
WHEN NOT EXISTS (SELECT 1 FROM device_latest_vitals l
                 WHERE l.device_id = NEW.device_id AND l.recorded_at > NEW.recorded_at)
BEGIN
    DELETE FROM device_latest_vitals WHERE device_id = NEW.device_id;
    INSERT INTO device_latest_vitals VALUES (NEW.device_id, NEW.recorded_at,
        NEW.battery_percentage, NEW.power_state, NEW.signal_dbm, NEW.network,
        NEW.firmware_version, NEW.modem_tx_bytes, NEW.modem_rx_bytes, NEW.sd_queue_len,
        NEW.sd_oldest_age_s, NEW.sd_failed_deliveries);
END;
