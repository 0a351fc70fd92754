package store

import (
	"context"
	"database/sql"
	"fmt"
	"path"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/slotsync/slotsync/migrations"
)

// MigrationReport says what one migration run did.
type MigrationReport struct {
	// Before and After are the schema versions around the run (0: empty database).
	Before, After int64
	// Applied names the files this run applied; empty when the schema was current.
	Applied []string
}

// Migrate brings the schema of databaseURL to the latest version in migrations.FS.
// It is idempotent, and concurrent runs are safe: goose holds a session advisory
// lock while applying, so a second process waits and then finds nothing to do.
func Migrate(ctx context.Context, databaseURL string) error {
	_, err := ApplyMigrations(ctx, databaseURL)
	return err
}

// ApplyMigrations is Migrate, reporting the versions before and after.
func ApplyMigrations(ctx context.Context, databaseURL string) (MigrationReport, error) {
	var report MigrationReport
	cfg, err := parsePoolConfig(databaseURL)
	if err != nil {
		return report, fmt.Errorf("migrate: %w", err)
	}
	db := stdlib.OpenDB(*cfg.ConnConfig)
	defer db.Close()

	p, err := newMigrationProvider(db)
	if err != nil {
		return report, fmt.Errorf("migrate: %w", err)
	}
	if report.Before, _, err = p.GetVersions(ctx); err != nil {
		return report, fmt.Errorf("migrate %s: read schema version: %w", RedactURL(databaseURL), err)
	}
	results, err := p.Up(ctx)
	for _, r := range results {
		if r.Error == nil {
			report.Applied = append(report.Applied, path.Base(r.Source.Path))
		}
	}
	if err != nil {
		return report, fmt.Errorf("migrate %s: %w", RedactURL(databaseURL), err)
	}
	if report.After, _, err = p.GetVersions(ctx); err != nil {
		return report, fmt.Errorf("migrate %s: read schema version: %w", RedactURL(databaseURL), err)
	}
	return report, nil
}

func newMigrationProvider(db *sql.DB) (*goose.Provider, error) {
	// Probe the lock every second instead of goose's 5 s, for up to 5 minutes: a
	// waiting process usually only waits for a run that takes milliseconds.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
	if err != nil {
		return nil, fmt.Errorf("create migration lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS,
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return p, nil
}
