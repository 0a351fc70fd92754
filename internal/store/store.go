// Package store keeps partner inventory in PostgreSQL: every fetched (product, date)
// is written as one snapshot transaction, so readers never see half an answer, and
// concurrent writers of the same pair never conflict or duplicate rows.
package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrNotFound is returned when a product was never synced at all.
var ErrNotFound = errors.New("not found")

// Pool defaults, used unless the URL sets pool_max_conns and friends: a Job index
// writes one snapshot at a time and the API is read-mostly, so a few connections
// per process keep the server's max_connections free for many pods.
const (
	defaultMaxConns        = 8
	defaultMaxConnIdleTime = 5 * time.Minute
)

// Store is the inventory database of slotsync.
type Store struct {
	pool *pgxpool.Pool
	// hook lets tests interrupt a snapshot transaction at a named stage.
	hook func(ctx context.Context, stage string, pid uint32) error
	// probeVia, when set, sends the snapshot listener's probe instead of pool:
	// tests point it at another database, whose notifications never arrive.
	probeVia *pgxpool.Pool
}

// Open prepares a connection pool for databaseURL. It does not connect: the first
// use does, so a process can start while the database is down (see Ping).
func Open(ctx context.Context, databaseURL string) (*Store, error) {
	cfg, err := parsePoolConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open store at %s: %w", RedactURL(databaseURL), err)
	}
	return &Store{pool: pool}, nil
}

func parsePoolConfig(databaseURL string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, parseError(err)
	}
	if !strings.Contains(databaseURL, "pool_max_conns") {
		cfg.MaxConns = defaultMaxConns
	}
	if !strings.Contains(databaseURL, "pool_max_conn_idle_time") {
		cfg.MaxConnIdleTime = defaultMaxConnIdleTime
	}
	return cfg, nil
}

// parseError drops pgx's parse error text: it quotes the connection string, and
// its password masking is only best effort on malformed input. The cause stays,
// unless it is a *url.Error, which quotes the URL too.
func parseError(err error) error {
	var pce *pgconn.ParseConfigError
	if !errors.As(err, &pce) {
		return fmt.Errorf("parse database URL: %w", err)
	}
	var ue *url.Error
	if cause := pce.Unwrap(); cause != nil && !errors.As(cause, &ue) {
		return fmt.Errorf("parse database URL: %w", cause)
	}
	return errors.New("parse database URL: malformed connection string")
}

// Close closes every connection of the pool.
func (s *Store) Close() { s.pool.Close() }

// Pool is the store's connection pool, shared with parts that keep their own
// tables in the same database (the partner budget).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// RedactURL returns databaseURL without user, password or query, fit for logs
// and errors: "postgres://db.example:5432/slotsync".
func RedactURL(databaseURL string) string {
	u, err := url.Parse(databaseURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "(database URL not shown)"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// dateText formats a calendar date in its own location, the form Postgres parses.
func dateText(d time.Time) string { return d.Format(time.DateOnly) }

// rollback ends tx when it was not committed; its error is moot then, as the
// caller already returns the error that led here.
func rollback(ctx context.Context, tx pgx.Tx) {
	_ = tx.Rollback(context.WithoutCancel(ctx))
}
