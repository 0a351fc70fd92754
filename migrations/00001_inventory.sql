-- Inventory snapshots: one inventory_syncs row per fetched (product, date), the
-- slots the partner returned for it and their per-passenger-type availability.

-- +goose Up
CREATE TABLE inventory_syncs (
    product_id   bigint      NOT NULL,
    date         date        NOT NULL,
    -- synced_at moves on every fetch, changed_at only when the answer differed.
    synced_at    timestamptz NOT NULL,
    changed_at   timestamptz NOT NULL,
    slot_count   integer     NOT NULL CHECK (slot_count >= 0),
    -- sha256 of the canonical answer: an identical refetch only touches synced_at.
    content_hash bytea       NOT NULL,
    PRIMARY KEY (product_id, date)
);

CREATE TABLE slots (
    product_id       bigint  NOT NULL,
    date             date    NOT NULL,
    provider_slot_id text    NOT NULL,
    -- The partner's own text, kept verbatim so an answer reads back unchanged.
    start_date       text    NOT NULL,
    start_time       text    NOT NULL,
    end_time         text    NOT NULL,
    remaining        integer NOT NULL CHECK (remaining >= 0),
    currency_code    text    NOT NULL,
    variant_id       bigint,
    PRIMARY KEY (product_id, date, provider_slot_id),
    -- A slot only exists as part of a recorded snapshot.
    FOREIGN KEY (product_id, date) REFERENCES inventory_syncs ON DELETE CASCADE
);

CREATE TABLE slot_pax (
    product_id       bigint  NOT NULL,
    date             date    NOT NULL,
    provider_slot_id text    NOT NULL,
    pax_type         text    NOT NULL,
    name             text    NOT NULL,
    description      text    NOT NULL,
    min_count        integer,
    max_count        integer,
    remaining        integer NOT NULL CHECK (remaining >= 0),
    is_primary       boolean NOT NULL,
    -- numeric keeps the scale, so "12.50" reads back as "12.50" (numeric::text).
    final_price      numeric NOT NULL,
    original_price   numeric NOT NULL,
    discount         numeric,
    currency_code    text    NOT NULL,
    PRIMARY KEY (product_id, date, provider_slot_id, pax_type),
    FOREIGN KEY (product_id, date, provider_slot_id) REFERENCES slots ON DELETE CASCADE
);

-- The dates endpoint: for one product and a date range, the dates with bookable
-- passengers and their lowest price. Partial on availability, and covering, so
-- the query reads only this index for the pax side.
CREATE INDEX slot_pax_available_price_idx
    ON slot_pax (product_id, date, final_price)
    INCLUDE (provider_slot_id, currency_code)
    WHERE remaining > 0;

-- +goose Down
DROP TABLE slot_pax;
DROP TABLE slots;
DROP TABLE inventory_syncs;
