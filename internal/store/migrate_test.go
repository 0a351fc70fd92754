package store_test

import (
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/slotsync/slotsync/internal/pgtest"
	"github.com/slotsync/slotsync/internal/store"
	"github.com/slotsync/slotsync/migrations"
)

// latestVersion is the highest number among the migration files.
func latestVersion(t *testing.T) int64 {
	t.Helper()
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("no migrations: %v", err)
	}
	var latest int64
	for _, name := range names {
		v, err := strconv.ParseInt(name[:strings.IndexByte(name, '_')], 10, 64)
		if err != nil {
			t.Fatalf("migration %s is not numbered: %v", name, err)
		}
		latest = max(latest, v)
	}
	return latest
}

func TestMigrateConcurrentlyThenAgain(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	url := pgtest.NewEmptyDatabase(t)
	latest := latestVersion(t)

	var wg sync.WaitGroup
	errs := make([]error, 2)
	reports := make([]store.MigrationReport, 2)
	for i := range errs {
		wg.Go(func() { reports[i], errs[i] = store.ApplyMigrations(ctx, url) })
	}
	wg.Wait()
	applied := 0
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent migration %d: %v", i, err)
		}
		if reports[i].After != latest {
			t.Errorf("concurrent migration %d ended at version %d, want %d", i, reports[i].After, latest)
		}
		applied += len(reports[i].Applied)
	}
	if want := int(latest); applied != want {
		t.Errorf("the two runs applied %d files in all, want each of the %d once", applied, want)
	}

	again, err := store.ApplyMigrations(ctx, url)
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	if again.Before != latest || again.After != latest || len(again.Applied) != 0 {
		t.Errorf("second run = %+v, want a no-op at version %d", again, latest)
	}

	conn := connect(t, url)
	var versions int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM goose_db_version WHERE version_id > 0`).Scan(&versions); err != nil {
		t.Fatal(err)
	}
	if versions != int(latest) {
		t.Errorf("goose_db_version records %d applied migrations, want %d", versions, latest)
	}
}

func TestMigrateErrorHidesCredentials(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	for _, url := range []string{
		"postgres://slotsync:hunter2@127.0.0.1:1/slotsync?sslmode=disable&connect_timeout=2",
		"postgres://slotsync:hunter2@127.0.0.1:1/slotsync?sslmode=nonsense",
		"postgres://slotsync:hunter2@127.0.0.1:1/slot%zzsync",
	} {
		err := store.Migrate(ctx, url)
		if err == nil {
			t.Fatalf("migrating an unreachable database succeeded")
		}
		t.Logf("error: %v", err)
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}
