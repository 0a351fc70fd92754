package partner

import (
	"context"
	"net/http"
	"time"
)

// Limiter spends one unit of the API key's budget per request. All processes that
// use the same key share one Limiter, so together they stay within the partner's
// limit. A nil Limiter means unlimited.
type Limiter interface {
	// Wait blocks until a request may be sent or ctx ends.
	Wait(ctx context.Context) error
	// Block tells every holder of the key that the partner refuses requests for
	// wait from now: their Wait must not return before. It returns how long the
	// key is blocked, which may be less than wait when wait is not believable.
	Block(ctx context.Context, wait time.Duration) (time.Duration, error)
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sends requests through hc, e.g. for a proxy or custom TLS.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) { c.hc = hc }
}

// WithTimeout bounds one attempt, from sending the request to reading the whole
// body (default 10s).
func WithTimeout(d time.Duration) Option {
	return func(c *Client) { c.timeout = d }
}

// WithLimiter makes every attempt wait for the shared budget and reports 429s to it.
func WithLimiter(l Limiter) Option {
	return func(c *Client) { c.limiter = l }
}

// WithRetry bounds the attempts for server errors, timeouts and network errors
// (default 4) and sets the exponential backoff between them (default 500ms
// doubling up to 10s, with jitter so that shards do not retry in lockstep).
func WithRetry(maxAttempts int, baseBackoff, maxBackoff time.Duration) Option {
	return func(c *Client) {
		c.maxAttempts, c.baseBackoff, c.maxBackoff = maxAttempts, baseBackoff, maxBackoff
	}
}

// WithRateLimitRetry bounds how often a request is retried after a 429 (default 3)
// and how far away a reset may be for the client to wait for it (default 2m);
// beyond either the *RateLimitedError is returned so the caller can reschedule.
func WithRateLimitRetry(maxRetries int, maxWait time.Duration) Option {
	return func(c *Client) { c.maxRateLimitRetries, c.maxRateLimitWait = maxRetries, maxWait }
}
