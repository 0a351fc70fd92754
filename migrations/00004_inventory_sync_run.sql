-- Which run wrote each pair last (internal/syncer): a retried Job index skips
-- only the pairs an earlier attempt of its own run wrote, never those another
-- schedule or run wrote.

-- +goose Up
-- The Job's name, or NULL when the writer named no run; never compared across
-- schedules, as Job names are unique per namespace and time.
ALTER TABLE inventory_syncs ADD COLUMN run_id text;

-- +goose Down
ALTER TABLE inventory_syncs DROP COLUMN run_id;
