package api

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"

	"github.com/slotsync/slotsync/internal/store"
)

// Reconnection of the snapshot listener.
const (
	listenRetryMin     = 100 * time.Millisecond
	listenRetryMax     = 5 * time.Second
	listenConnectLimit = 5 * time.Second
)

// listenKeepAlive makes a dead database host show up as an error on the
// listener's idle connection within about 25 s, rather than the kernel's
// default of hours; until then the cache may serve answers the listener would
// have invalidated.
var listenKeepAlive = net.KeepAliveConfig{Enable: true, Idle: 10 * time.Second, Interval: 5 * time.Second, Count: 3}

// WatchSnapshots keeps the read cache coherent with the database until ctx is
// done: on a dedicated connection it LISTENs to store.SnapshotChannel and drops
// the answers each committed snapshot changes. While that connection is down the
// cache neither serves nor stores; it starts empty each time the listener is
// back. With the cache off (size 0) it returns at once. Serve runs it.
func (s *Server) WatchSnapshots(ctx context.Context) {
	if !s.cache.enabled() {
		return
	}
	log := logr.FromContextOrDiscard(ctx).WithName("snapshots")
	defer s.cache.reset(false)
	wait := listenRetryMin
	failures := 0
	for {
		listened, err := s.listen(ctx, log)
		s.cache.reset(false)
		if ctx.Err() != nil {
			return
		}
		if listened {
			wait, failures = listenRetryMin, 0
		}
		// Once per outage as an error; the retries only in detail.
		if failures++; failures == 1 {
			log.Error(err, "snapshot listener disconnected; the read cache is off until it is back", "retryIn", wait.String())
		} else {
			log.V(1).Info("snapshot listener still disconnected", "error", err.Error(), "retryIn", wait.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, listenRetryMax)
	}
}

// listen connects, listens and applies notifications until the connection
// fails. listened says whether it got as far as listening.
func (s *Server) listen(ctx context.Context, log logr.Logger) (listened bool, err error) {
	cfg := s.store.Pool().Config().ConnConfig.Copy()
	if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > listenConnectLimit {
		cfg.ConnectTimeout = listenConnectLimit
	}
	dialer := &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAliveConfig: listenKeepAlive}
	cfg.DialFunc = dialer.DialContext
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["application_name"] = "slotsync-api-listener"

	cctx, cancel := context.WithTimeout(ctx, listenConnectLimit)
	conn, err := pgx.ConnectConfig(cctx, cfg)
	cancel()
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()

	lctx, cancel := context.WithTimeout(ctx, listenConnectLimit)
	_, err = conn.Exec(lctx, "LISTEN "+pgx.Identifier{store.SnapshotChannel}.Sanitize())
	cancel()
	if err != nil {
		return false, fmt.Errorf("listen on %s: %w", store.SnapshotChannel, err)
	}
	// Only now may the cache serve: every commit from here on is notified.
	s.cache.reset(true)
	log.Info("listening for snapshots; the read cache is on")

	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true, fmt.Errorf("wait for notification: %w", err)
		}
		product, date, err := parseSnapshotPayload(n.Payload)
		if err != nil {
			// Not ours to understand: drop everything rather than keep a stale answer.
			log.Error(err, "unexpected snapshot notification; clearing the read cache")
			s.cache.reset(true)
			continue
		}
		s.cache.invalidate(product, date)
	}
}

// parseSnapshotPayload reads "<productID>:<YYYY-MM-DD>".
func parseSnapshotPayload(p string) (int64, string, error) {
	id, date, ok := strings.Cut(p, ":")
	if !ok {
		return 0, "", fmt.Errorf("payload %s: want <productID>:<YYYY-MM-DD>", quote(p))
	}
	product, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return 0, "", fmt.Errorf("payload %s: product id: %w", quote(p), err)
	}
	if _, err := time.Parse(time.DateOnly, date); err != nil {
		return 0, "", fmt.Errorf("payload %s: date: %w", quote(p), err)
	}
	return product, date, nil
}
