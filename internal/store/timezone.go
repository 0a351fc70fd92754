package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// recordTimeZones writes only the products whose zone changes and notifies
// each of them like a snapshot: API caches drop the product's dates answer,
// whose "today" moved with the zone. The payload's date is moot (it drops at
// most one cached slots answer), so it is the day of the change in UTC.
const recordTimeZones = `
WITH changed AS (
  INSERT INTO product_time_zones AS z (product_id, time_zone)
  SELECT DISTINCT unnest($1::bigint[]), $2::text
  ON CONFLICT (product_id) DO UPDATE SET time_zone = EXCLUDED.time_zone
  WHERE z.time_zone IS DISTINCT FROM EXCLUDED.time_zone
  RETURNING product_id)
SELECT pg_notify($3, product_id::text || ':' || to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD'))
FROM changed`

// RecordTimeZone records that the sync of products judges its dates by the
// calendar of timeZone, an IANA name such as Europe/Berlin; ProductTimeZone
// reads it back. The latest record of a product wins.
func (s *Store) RecordTimeZone(ctx context.Context, products []int64, timeZone string) error {
	if len(products) == 0 {
		return nil
	}
	if _, err := s.pool.Exec(ctx, recordTimeZones, products, timeZone, SnapshotChannel); err != nil {
		return fmt.Errorf("record time zone %s of products %v: %w", timeZone, products, err)
	}
	return nil
}

// ProductTimeZone returns the time zone RecordTimeZone last recorded for
// productID, or "" when none was.
func (s *Store) ProductTimeZone(ctx context.Context, productID int64) (string, error) {
	var tz string
	err := s.pool.QueryRow(ctx, `SELECT time_zone FROM product_time_zones WHERE product_id = $1`, productID).Scan(&tz)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read time zone of product %d: %w", productID, err)
	}
	return tz, nil
}
