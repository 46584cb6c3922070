-- Business analytics (issue 19): one snapshot per UTC day (the state at its end, the flows
-- during it; written again with the same values when a day is recomputed), the customers behind
-- each day's MRR movements (the drill-down), and the acquisition spend staff enter per month and
-- channel. Definitions: docs/analytics.md.
CREATE TABLE analytics_days (
    -- YYYY-MM-DD, UTC.
    day TEXT PRIMARY KEY,
    mrr_cents BIGINT NOT NULL,
    paying_customers BIGINT NOT NULL,
    trialing BIGINT NOT NULL,
    new_cents BIGINT NOT NULL,
    expansion_cents BIGINT NOT NULL,
    contraction_cents BIGINT NOT NULL,
    churn_cents BIGINT NOT NULL,
    reactivation_cents BIGINT NOT NULL,
    new_customers BIGINT NOT NULL,
    churned_customers BIGINT NOT NULL,
    reactivated_customers BIGINT NOT NULL,
    other_revenue_cents BIGINT NOT NULL,
    trials_ended BIGINT NOT NULL,
    trials_converted BIGINT NOT NULL,
    shipped BIGINT NOT NULL,
    activated BIGINT NOT NULL,
    notifications_attempted BIGINT NOT NULL,
    notifications_delivered BIGINT NOT NULL,
    first_failures BIGINT NOT NULL,
    recovered BIGINT NOT NULL,
    data_periods BIGINT NOT NULL,
    data_bytes BIGINT NOT NULL,
    computed_at BIGINT NOT NULL
);

CREATE TABLE analytics_movements (
    day TEXT NOT NULL,
    customer_id TEXT NOT NULL REFERENCES users (id),
    kind TEXT NOT NULL CHECK (kind IN ('new', 'expansion', 'contraction', 'churn', 'reactivation')),
    before_cents BIGINT NOT NULL,
    after_cents BIGINT NOT NULL,
    PRIMARY KEY (day, customer_id)
);
CREATE INDEX analytics_movements_kind_day ON analytics_movements (kind, day);

CREATE TABLE acquisition_spend (
    -- YYYY-MM.
    month TEXT NOT NULL,
    channel TEXT NOT NULL,
    amount_cents BIGINT NOT NULL CHECK (amount_cents >= 0),
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (month, channel)
);

-- Data per device reads the usage periods that ended in the chosen period.
CREATE INDEX usage_periods_end ON usage_periods (period_end);
