package store

import (
	"context"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"k8s.io/apimachinery/pkg/util/wait"
)

// Reconnection of the snapshot listener.
const (
	watchRetryMin     = 100 * time.Millisecond
	watchRetryMax     = 5 * time.Second
	watchConnectLimit = 5 * time.Second
	// watchProbeLimit is how long the probe notification may take to come
	// back to the listener before the listener counts as deaf.
	watchProbeLimit = 5 * time.Second
)

// probePrefix marks the watcher's own probe notifications, which carry no
// snapshot. A product id is never "probe", so the two cannot be confused.
const probePrefix = "probe:"

// watchKeepAlive makes a dead database host show up as an error on the
// listener's idle connection within about 25 s, rather than the kernel's
// default of hours; until then the watcher misses snapshots without knowing.
var watchKeepAlive = net.KeepAliveConfig{Enable: true, Idle: 10 * time.Second, Interval: 5 * time.Second, Count: 3}

// SnapshotWatch is what WatchSnapshots calls, one call at a time from its own
// goroutine. A nil func is skipped.
type SnapshotWatch struct {
	// Listening: the listener is up, and every snapshot committed from now
	// on is reported; any committed while it was down were not.
	Listening func()
	// Snapshot: a snapshot of product on date (YYYY-MM-DD) was committed.
	Snapshot func(product int64, date string)
	// Unreadable: a notification on SnapshotChannel that is not a snapshot's,
	// so what changed is unknown.
	Unreadable func(err error)
	// Lost: connecting, LISTEN or the connection failed; the next try is in
	// retryIn, and snapshots go unreported until Listening.
	Lost func(err error, retryIn time.Duration)
}

// WatchSnapshots reports committed snapshots to w until ctx is done. It
// LISTENs to SnapshotChannel on a dedicated connection of its own, not one of
// the pool's, and reconnects with exponential backoff when that fails.
func (s *Store) WatchSnapshots(ctx context.Context, w SnapshotWatch) {
	retry := newWatchBackoff()
	for {
		listened, err := s.listen(ctx, w)
		if ctx.Err() != nil {
			return
		}
		if listened {
			retry = newWatchBackoff()
		}
		d := retry.Step()
		if w.Lost != nil {
			w.Lost(err, d)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
	}
}

func newWatchBackoff() *wait.Backoff {
	return &wait.Backoff{Duration: watchRetryMin, Factor: 2, Cap: watchRetryMax, Steps: math.MaxInt}
}

// listen connects, listens and reports notifications until the connection
// fails. listened says whether it got as far as listening.
func (s *Store) listen(ctx context.Context, w SnapshotWatch) (listened bool, err error) {
	cfg := s.pool.Config().ConnConfig.Copy()
	if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > watchConnectLimit {
		cfg.ConnectTimeout = watchConnectLimit
	}
	dialer := &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAliveConfig: watchKeepAlive}
	cfg.DialFunc = dialer.DialContext
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["application_name"] = "slotsync-api-listener"

	cctx, cancel := context.WithTimeout(ctx, watchConnectLimit)
	conn, err := pgx.ConnectConfig(cctx, cfg)
	cancel()
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()

	lctx, cancel := context.WithTimeout(ctx, watchConnectLimit)
	_, err = conn.Exec(lctx, "LISTEN "+pgx.Identifier{SnapshotChannel}.Sanitize())
	cancel()
	if err != nil {
		return false, fmt.Errorf("listen on %s: %w", SnapshotChannel, err)
	}
	// LISTEN succeeding does not prove notifications arrive: behind a pooler
	// in transaction mode (PgBouncer) it succeeds on a server connection that
	// is then handed to other clients, and nothing ever comes back. A probe
	// sent the way writers notify must return before the listener counts.
	if err := s.probeListener(ctx, conn, w); err != nil {
		return false, err
	}
	if w.Listening != nil {
		w.Listening()
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true, fmt.Errorf("wait for notification: %w", err)
		}
		if strings.HasPrefix(n.Payload, probePrefix) {
			continue // a late probe of this or another watcher
		}
		product, date, err := parseSnapshotPayload(n.Payload)
		switch {
		case err != nil && w.Unreadable != nil:
			w.Unreadable(err)
		case err == nil && w.Snapshot != nil:
			w.Snapshot(product, date)
		}
	}
}

// probeListener notifies SnapshotChannel through the pool, as a snapshot
// write does, and waits for that notification on conn. Snapshot
// notifications that arrive first are reported as usual.
func (s *Store) probeListener(ctx context.Context, conn *pgx.Conn, w SnapshotWatch) error {
	token := probePrefix + strconv.FormatUint(uint64(conn.PgConn().PID()), 10) + ":" + strconv.FormatInt(time.Now().UnixNano(), 36)
	pctx, cancel := context.WithTimeout(ctx, watchProbeLimit)
	defer cancel()
	notifier := s.pool
	if s.probeVia != nil {
		notifier = s.probeVia
	}
	if _, err := notifier.Exec(pctx, "SELECT pg_notify($1, $2)", SnapshotChannel, token); err != nil {
		return fmt.Errorf("probe the listener on %s: %w", SnapshotChannel, err)
	}
	for {
		n, err := conn.WaitForNotification(pctx)
		if err != nil {
			if ctx.Err() == nil && pctx.Err() != nil {
				return fmt.Errorf("LISTEN on %s succeeded but a probe notification did not come back within %s: notifications do not reach this connection (a pooler in transaction mode between slotsync and Postgres drops them; connect the API to Postgres directly or through a session-mode pooler)", SnapshotChannel, watchProbeLimit)
			}
			return fmt.Errorf("wait for the probe notification: %w", err)
		}
		if n.Payload == token {
			return nil
		}
		if strings.HasPrefix(n.Payload, probePrefix) {
			continue
		}
		// A snapshot committed before the listener counts: the cache is not
		// live yet, so it has nothing to drop, but report it all the same.
		if product, date, err := parseSnapshotPayload(n.Payload); err == nil && w.Snapshot != nil {
			w.Snapshot(product, date)
		}
	}
}

// parseSnapshotPayload reads "<productID>:<YYYY-MM-DD>". Errors quote at most
// 40 characters of a payload that is not ours.
func parseSnapshotPayload(p string) (int64, string, error) {
	id, date, ok := strings.Cut(p, ":")
	if !ok {
		return 0, "", fmt.Errorf("payload %.40q: want <productID>:<YYYY-MM-DD>", p)
	}
	product, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return 0, "", fmt.Errorf("payload %.40q: product id: %w", p, err)
	}
	if _, err := time.Parse(time.DateOnly, date); err != nil {
		return 0, "", fmt.Errorf("payload %.40q: date: %w", p, err)
	}
	return product, date, nil
}
