package partner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// Client fetches inventory from the partner. It is safe for concurrent use.
type Client struct {
	base    *url.URL
	apiKey  string
	hc      *http.Client
	timeout time.Duration
	limiter Limiter

	maxAttempts         int
	baseBackoff         time.Duration
	maxBackoff          time.Duration
	maxRateLimitRetries int
	maxRateLimitWait    time.Duration

	stats counters
}

// Stats counts what a Client did since it was created.
type Stats struct {
	// Requests is the number of HTTP requests actually sent, retries included.
	Requests     int64
	RateLimited  int64
	ServerErrors int64
	Timeouts     int64
	Malformed    int64
}

type counters struct {
	requests, rateLimited, serverErrors, timeouts, malformed atomic.Int64
}

// New returns a client for the partner at baseURL (http or https, with a host; a
// path prefix is kept) that authenticates with apiKey.
func New(baseURL, apiKey string, opts ...Option) (*Client, error) {
	base, err := parseBaseURL(baseURL)
	if err != nil {
		return nil, err
	}
	if apiKey == "" {
		return nil, errors.New("partner API key is empty")
	}
	c := &Client{
		base:                base,
		apiKey:              apiKey,
		timeout:             10 * time.Second,
		maxAttempts:         4,
		baseBackoff:         500 * time.Millisecond,
		maxBackoff:          10 * time.Second,
		maxRateLimitRetries: 3,
		maxRateLimitWait:    2 * time.Minute,
	}
	for _, opt := range opts {
		opt(c)
	}
	switch {
	case c.timeout <= 0:
		return nil, fmt.Errorf("partner timeout %s is not positive", c.timeout)
	case c.maxAttempts < 1:
		return nil, fmt.Errorf("partner retry: %d attempts, want at least 1", c.maxAttempts)
	case c.baseBackoff <= 0 || c.maxBackoff < c.baseBackoff:
		return nil, fmt.Errorf("partner retry: backoff %s..%s, want 0 < base <= max", c.baseBackoff, c.maxBackoff)
	case c.maxRateLimitRetries < 0 || c.maxRateLimitWait < 0:
		return nil, errors.New("partner rate-limit retry: negative bound")
	}
	c.hc = noRedirects(c.hc)
	return c, nil
}

func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the input, which may hold credentials: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("parse partner base URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("partner base URL: scheme %q, want http or https", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("partner base URL has no host")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("partner base URL must not have a query or fragment")
	}
	return u, nil
}

// noRedirects keeps the key from following a redirect to another host: net/http
// strips Authorization on such redirects but not a custom x-api-key header. A 3xx
// then surfaces as a *ServerError. A caller's own redirect policy is kept.
func noRedirects(hc *http.Client) *http.Client {
	if hc == nil {
		hc = &http.Client{}
	}
	if hc.CheckRedirect != nil {
		return hc
	}
	cp := *hc
	cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cp
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	return Stats{
		Requests:     c.stats.requests.Load(),
		RateLimited:  c.stats.rateLimited.Load(),
		ServerErrors: c.stats.serverErrors.Load(),
		Timeouts:     c.stats.timeouts.Load(),
		Malformed:    c.stats.malformed.Load(),
	}
}

// FetchInventory returns every slot of productID on date (the product's local
// calendar date, as given). Each attempt waits for the limiter. Server errors,
// timeouts and network errors are retried with backoff; a 429 is reported to the
// limiter and retried after its reset; 401 and malformed answers are not retried.
// Errors are ErrUnauthorized, *RateLimitedError, *ServerError, ErrTimeout,
// *MalformedError, or the caller's ctx.Err(), each wrapped with the product and
// date; they never contain the API key or the request's query.
func (c *Client) FetchInventory(ctx context.Context, productID int64, date time.Time) ([]Slot, error) {
	day := date.Format(DateLayout)
	slots, err := c.fetch(ctx, productID, date)
	if err != nil {
		return nil, fmt.Errorf("fetch product %d on %s: %w", productID, day, err)
	}
	return slots, nil
}

func (c *Client) fetch(ctx context.Context, productID int64, date time.Time) ([]Slot, error) {
	u := c.base.JoinPath("api/v1/inventory", strconv.FormatInt(productID, 10))
	u.RawQuery = url.Values{"date": {date.Format(DateLayout)}}.Encode()
	failures, limited := 0, 0
	backoff := c.retryBackoff()
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if c.limiter != nil {
			if err := c.limiter.Wait(ctx); err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				return nil, fmt.Errorf("wait for the key's budget: %w", err)
			}
		}
		body, retry, err := c.attempt(ctx, u)
		if err == nil {
			slots, err := Decode(body, productID, date)
			if err != nil {
				c.stats.malformed.Add(1)
				return nil, err
			}
			return slots, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if rl, ok := errors.AsType[*RateLimitedError](err); ok {
			limited++
			if err := c.rateLimited(ctx, rl, limited); err != nil {
				return nil, err
			}
			continue
		}
		if !retry {
			return nil, err
		}
		failures++
		if failures >= c.maxAttempts {
			return nil, fmt.Errorf("give up after %d attempts: %w", failures, err)
		}
		if err := sleep(ctx, backoff.Step()); err != nil {
			return nil, err
		}
	}
}

// rateLimited handles the n-th 429 of a fetch: it blocks the shared budget for
// the partner's wait and, when a retry is allowed, returns nil once the retry may
// be sent. The limiter bounds the block, so a wrong reset cannot stop the key for
// good; the retry is judged by the block actually held.
func (c *Client) rateLimited(ctx context.Context, rl *RateLimitedError, n int) error {
	wait := rl.Wait
	if c.limiter != nil {
		blocked, err := c.limiter.Block(ctx, rl.Wait)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%w; block the key's budget: %w", rl, err)
		}
		wait = blocked
	}
	if n > c.maxRateLimitRetries || wait > c.maxRateLimitWait {
		return rl
	}
	if c.limiter != nil {
		// The next Wait honours the block, for us and for every other holder.
		return nil
	}
	return sleep(ctx, wait)
}

// attempt sends one request. It returns the body of a 200, or an error and whether
// a retry may succeed.
func (c *Client) attempt(ctx context.Context, u *url.URL) ([]byte, bool, error) {
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, false, fmt.Errorf("build request: %w", c.redact(err, u))
	}
	req.Header.Set("x-api-key", c.apiKey)
	req.Header.Set("Accept", "application/json")
	c.stats.requests.Add(1)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, true, c.transportError(ctx, err, u)
	}
	defer resp.Body.Close()

	switch resp.StatusCode {
	case http.StatusOK:
		body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodySize+1))
		if err != nil {
			return nil, true, c.transportError(ctx, err, u)
		}
		return body, false, nil
	case http.StatusUnauthorized:
		drain(resp.Body)
		return nil, false, ErrUnauthorized
	case http.StatusTooManyRequests:
		c.stats.rateLimited.Add(1)
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return nil, true, parseRateLimited(resp.Header, body, time.Now())
	default:
		drain(resp.Body)
		c.stats.serverErrors.Add(1)
		se := &ServerError{Status: resp.StatusCode}
		return nil, se.Temporary(), se
	}
}

// drain reads a little of an unwanted body so the connection can be reused.
func drain(r io.Reader) { _, _ = io.Copy(io.Discard, io.LimitReader(r, 64<<10)) }

// transportError classifies a failed send or read. The caller's own cancellation
// wins over the attempt's timeout.
func (c *Client) transportError(ctx context.Context, err error, u *url.URL) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if ne, ok := errors.AsType[net.Error](err); errors.Is(err, context.DeadlineExceeded) || (ok && ne.Timeout()) {
		c.stats.timeouts.Add(1)
		return fmt.Errorf("%w (attempt timeout %s)", ErrTimeout, c.timeout)
	}
	return c.redact(err, u)
}

// redact rewrites the URL inside err to scheme, host and path: the query and any
// credentials in the base URL must not reach logs.
func (c *Client) redact(err error, u *url.URL) error {
	safe := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return &url.Error{Op: ue.Op, URL: safe.String(), Err: ue.Err}
	}
	return fmt.Errorf("%s %s: %w", http.MethodGet, safe.String(), err)
}

// retryBackoff gives the pause after each failure of one fetch: exponential
// from baseBackoff, capped at maxBackoff, with jitter in its upper half so that
// shards that failed together do not retry together. Halving the durations
// and jittering by 1 draws each pause from [d/2, d).
func (c *Client) retryBackoff() *wait.Backoff {
	return &wait.Backoff{Duration: c.baseBackoff / 2, Factor: 2, Jitter: 1, Cap: c.maxBackoff / 2, Steps: math.MaxInt}
}

// sleep waits for d or until ctx ends, whichever is first.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// parseRateLimited reads the reset from the body's rateLimitState (epoch
// milliseconds), else from Retry-After (seconds or an HTTP date), else assumes a
// minute, the partner's window.
func parseRateLimited(h http.Header, body []byte, now time.Time) *RateLimitedError {
	e := &RateLimitedError{}
	var b struct {
		State *struct {
			Limit     int         `json:"limit"`
			Remaining int         `json:"remaining"`
			Reset     json.Number `json:"reset"`
		} `json:"rateLimitState"`
	}
	if json.Unmarshal(body, &b) == nil && b.State != nil {
		e.Limit, e.Remaining = b.State.Limit, b.State.Remaining
		if ms, err := b.State.Reset.Int64(); err == nil && ms > 0 {
			e.Reset = time.UnixMilli(ms)
		} else if f, err := b.State.Reset.Float64(); err == nil && f > 0 && f < 1e15 {
			e.Reset = time.UnixMilli(int64(f))
		}
	}
	if e.Reset.IsZero() {
		if v := h.Get("Retry-After"); v != "" {
			if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
				e.Reset = now.Add(time.Duration(secs) * time.Second)
			} else if t, err := http.ParseTime(v); err == nil {
				e.Reset = t
			}
		}
	}
	if e.Reset.IsZero() {
		e.Reset = now.Add(time.Minute)
	}
	e.Wait = max(e.Reset.Sub(now), 0)
	return e
}
