-- The data bytes of each usage period that ended on a day, sorted, as the day's snapshot saw
-- them (little-endian u64s). The period's p50 and p95 data per device need every value, and
-- reading them from usage_periods on each view of a 12-month report read over a million rows.
CREATE TABLE analytics_day_data (
    -- YYYY-MM-DD, UTC, as analytics_days.
    day TEXT PRIMARY KEY,
    bytes BYTEA NOT NULL
);
