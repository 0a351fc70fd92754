-- Which refresh intervals are using each partner key (internal/ratelimit): a worker
-- yields the key while a band refreshed more often has claimed a slot lately, so
-- the budget goes to the most urgent data first.

-- +goose Up
CREATE TABLE partner_budget_claims (
    -- sha256 of the key in hex, as in partner_budgets.
    key_hash  text        NOT NULL CHECK (key_hash ~ '^[0-9a-f]{64}$'),
    -- The refresh interval of the claiming workers' band, in microseconds; a
    -- smaller interval outranks a larger one.
    every_us  bigint      NOT NULL CHECK (every_us >= 0),
    -- The latest slot any of those workers reserved, in the database clock.
    last_slot timestamptz NOT NULL,
    PRIMARY KEY (key_hash, every_us)
);

-- +goose Down
DROP TABLE partner_budget_claims;
