package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/slotsync/slotsync/internal/pgtest"
	"github.com/slotsync/slotsync/internal/store"
)

func TestParseSnapshotPayload(t *testing.T) {
	tests := []struct {
		payload string
		product int64
		date    string
		wantErr bool
	}{
		{"14:2026-12-01", 14, "2026-12-01", false},
		{"9223372036854775807:2026-12-01", 1<<63 - 1, "2026-12-01", false},
		{"14", 0, "", true},
		{"x:2026-12-01", 0, "", true},
		{"14:2026-02-30", 0, "", true},
		{"14:", 0, "", true},
	}
	for _, tt := range tests {
		product, date, err := store.ParseSnapshotPayload(tt.payload)
		if (err != nil) != tt.wantErr || product != tt.product || date != tt.date {
			t.Errorf("ParseSnapshotPayload(%q) = %d, %q, %v", tt.payload, product, date, err)
		}
	}
}

// TestWatchSnapshots: once listening, the watcher reports a committed snapshot
// and a foreign notification on the channel as unreadable.
func TestWatchSnapshots(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	s, _ := newStore(t)
	next := watchEvents(ctx, t, s)

	if got := next(10 * time.Second); got != "listening" {
		t.Fatalf("first event %q, want listening", got)
	}
	write(t, s, answerA(), instant(0))
	if got, want := next(10*time.Second), "snapshot 14 2026-12-01"; got != want {
		t.Errorf("event %q, want %q", got, want)
	}
	if _, err := s.Pool().Exec(ctx, "SELECT pg_notify($1, 'not a snapshot')", store.SnapshotChannel); err != nil {
		t.Fatal(err)
	}
	if got := next(10 * time.Second); got != "unreadable" {
		t.Errorf("event %q for a foreign payload, want unreadable", got)
	}
}

// TestWatchSnapshotsNeedsNotificationsToArrive: a LISTEN that succeeds while
// notifications never reach it, as behind a pooler in transaction mode, does
// not count as listening: the watcher reports it lost and says why, so the
// API's cache stays off instead of serving answers nothing will clear.
func TestWatchSnapshotsNeedsNotificationsToArrive(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	s, _ := newStore(t)
	// Notifications do not cross databases: a probe sent to another one never
	// comes back, as a notify through a transaction-mode pooler does not.
	elsewhere, err := pgxpool.New(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(elsewhere.Close)
	store.SetProbeVia(s, elsewhere)

	if e := watchEvents(ctx, t, s)(20 * time.Second); !strings.HasPrefix(e, "lost: ") || !strings.Contains(e, "transaction mode") {
		t.Fatalf("first event %q, want lost, naming the pooler", e)
	}
}

// watchEvents runs s's snapshot watcher until the test ends and returns a
// function that waits up to timeout for its next event, as a line of text.
func watchEvents(ctx context.Context, t *testing.T, s *store.Store) func(timeout time.Duration) string {
	t.Helper()
	events := make(chan string, 16)
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.WatchSnapshots(wctx, store.SnapshotWatch{
			Listening:  func() { events <- "listening" },
			Snapshot:   func(product int64, date string) { events <- fmt.Sprintf("snapshot %d %s", product, date) },
			Unreadable: func(error) { events <- "unreadable" },
			Lost:       func(err error, _ time.Duration) { events <- "lost: " + err.Error() },
		})
	}()
	t.Cleanup(func() {
		stop()
		<-done
	})
	return func(timeout time.Duration) string {
		t.Helper()
		select {
		case e := <-events:
			return e
		case <-time.After(timeout):
			t.Fatalf("no event within %v", timeout)
			return ""
		}
	}
}
