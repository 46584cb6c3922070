-- What a mailbox holds on its SD card besides the count (issue 13): the age of the oldest event
-- held and the deliveries that failed since the queue was last empty. NULL when nothing is held,
-- and from firmware that does not report them.
ALTER TABLE device_vitals ADD COLUMN sd_oldest_age_s BIGINT;
ALTER TABLE device_vitals ADD COLUMN sd_failed_deliveries BIGINT;
