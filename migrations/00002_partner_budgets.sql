-- The shared request budget of each partner key (internal/ratelimit): a GCRA
-- theoretical arrival time every process using the key reserves from atomically.

-- +goose Up
CREATE TABLE partner_budgets (
    -- sha256 of the key in hex: the key itself never reaches the database.
    key_hash      text        PRIMARY KEY CHECK (key_hash ~ '^[0-9a-f]{64}$'),
    -- The earliest time the next request may be sent, in the database clock.
    tat           timestamptz NOT NULL,
    -- The partner's reset time after a 429; nobody sends before it.
    blocked_until timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- +goose Down
DROP TABLE partner_budgets;
