-- The time zone whose calendar each product's sync judges "today" by, as its
-- sync worker last recorded it (slotsync sync --timezone, from the schedule's
-- spec.timezone): the API's dates route judges today by the same calendar.

-- +goose Up
CREATE TABLE product_time_zones (
    product_id bigint PRIMARY KEY,
    -- An IANA name such as Europe/Berlin, loaded by the API; one it cannot load
    -- counts as unknown.
    time_zone  text   NOT NULL CHECK (time_zone <> '')
);

-- +goose Down
DROP TABLE product_time_zones;
