-- The billing pass takes due subscriptions in (period end, id) order, a batch at a time: an
-- index in that order lets it read each batch without sorting the whole backlog.
DROP INDEX subscriptions_due;
CREATE INDEX subscriptions_due ON subscriptions (current_period_end, id) WHERE status <> 'canceled';
