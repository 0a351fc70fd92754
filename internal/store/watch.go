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
)

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
	if w.Listening != nil {
		w.Listening()
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true, fmt.Errorf("wait for notification: %w", err)
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
