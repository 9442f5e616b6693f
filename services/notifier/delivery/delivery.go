// Package delivery sends one HTTP request to a vendor's API and classifies
// the outcome the way every HTTP integration must: a 2xx answer succeeds;
// 429 (and a vendor's other rate-limit statuses) is retried after its
// Retry-After; 5xx is retried; any other status is final, with the vendor's
// error text. Network errors and timeouts are retried. Every error that
// leaves Send has the request's secrets removed, and every failure is
// marked with its notification.Reason.
//
// It also holds the truncation rules vendors' field limits call for.
package delivery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	commoncfg "github.com/prometheus/common/config"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/fault"
	"github.com/klaxon-alerts/klaxon/services/notifier/notification"
	"github.com/klaxon-alerts/klaxon/services/notifier/secret"
)

// UserAgent is sent with every request.
const UserAgent = "Klaxon"

// maxBody bounds how much of an answer is read.
const maxBody = 64 << 10

// maxErrorText bounds how much of a vendor's error text goes into an error.
const maxErrorText = 256

// Policy is how one vendor's answers are read.
type Policy struct {
	// Name names the vendor in errors ("pagerduty").
	Name string
	// RateLimitCodes are statuses besides 429 that mean "slow down" and
	// are retried (PagerDuty's Events API v1 answers 403).
	RateLimitCodes []int
	// Detail extracts the vendor's error text from a failed answer; nil or
	// "" means the start of the body.
	Detail func(code int, body []byte) string
	// RetryAfter extracts a delay from a rate-limited answer's body, for
	// vendors that put it there (Telegram, Discord); a Retry-After header
	// wins.
	RetryAfter func(body []byte) (time.Duration, bool)
	// Refused inspects a 2xx answer, for vendors that answer a refusal with
	// 2xx (Telegram's {"ok": false}); a non-nil error is final.
	Refused func(body []byte) error
}

// Client sends one integration's requests: the HTTP client of its
// http_config, that config's inline credentials (kept out of errors), its
// vendor's Policy, and the clock that Retry-After dates are read against.
type Client struct {
	http   *http.Client
	creds  secret.Set
	policy Policy
	now    func() time.Time
}

// NewClient builds the client of an integration whose vendor's answers p
// reads, from its http_config (nil: the defaults).
func NewClient(p Policy, cfg *config.HTTPClientConfig) (*Client, error) {
	httpCfg := commoncfg.DefaultHTTPClientConfig
	if cfg != nil {
		httpCfg = cfg.HTTPClientConfig
	}
	client, err := commoncfg.NewClientFromConfig(httpCfg, p.Name, commoncfg.WithUserAgent(UserAgent))
	if err != nil {
		return nil, fmt.Errorf("%s http_config: %w", p.Name, err)
	}
	return &Client{http: client, creds: secret.HTTPConfig(&httpCfg), policy: p, now: time.Now}, nil
}

// Send sends req and classifies the answer (see Send).
func (c *Client) Send(ctx context.Context, req Request) (answer []byte, retryable bool, err error) {
	req.Secrets = req.Secrets.With(c.creds)
	return Send(ctx, c.http, c.policy, req, c.now())
}

// Request is one request to send.
type Request struct {
	Method      string // default POST
	URL         *url.URL
	Header      http.Header
	ContentType string // default application/json
	Body        []byte
	// Secrets must not appear in any error: the URL's are added.
	Secrets secret.Set
}

// Send sends req with client and classifies the answer; it returns the
// body of a successful answer (its first 64 KiB).
func Send(ctx context.Context, client *http.Client, p Policy, req Request, now time.Time) (answer []byte, retryable bool, err error) {
	secrets := secret.URL(req.URL).With(req.Secrets)
	method := req.Method
	if method == "" {
		method = http.MethodPost
	}
	hr, err := http.NewRequestWithContext(ctx, method, req.URL.String(), bytes.NewReader(req.Body))
	if err != nil {
		return nil, false, secrets.Redact(notification.Failed(notification.ReasonConfig, fmt.Errorf("build %s request: %w", p.Name, err)))
	}
	for k, v := range req.Header {
		hr.Header[k] = v
	}
	ct := req.ContentType
	if ct == "" {
		ct = "application/json"
	}
	hr.Header.Set("Content-Type", ct)
	hr.Header.Set("User-Agent", UserAgent)

	resp, err := client.Do(hr)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = secret.Redacted
		}
		err = WithContextCause(ctx, err)
		return nil, true, secrets.Redact(notification.Failed(TransportReason(err), fmt.Errorf("post to %s: %w", p.Name, err)))
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		_ = resp.Body.Close()
	}()
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	retryable, err = p.classify(resp, body, now, secrets)
	if err != nil {
		return nil, retryable, secrets.Redact(fmt.Errorf("%s: %w", p.Name, err))
	}
	if readErr != nil {
		return nil, true, secrets.Redact(notification.Failed(notification.ReasonOther, fmt.Errorf("%s: read answer: %w", p.Name, readErr)))
	}
	return body, false, nil
}

// classify maps an answer to (retryable, error).
func (p Policy) classify(resp *http.Response, body []byte, now time.Time, secrets secret.Set) (bool, error) {
	code := resp.StatusCode
	if code/100 == 2 {
		if p.Refused != nil {
			if err := p.Refused(body); err != nil {
				return false, notification.Failed(notification.ReasonClientError, secrets.Redact(err))
			}
		}
		return false, nil
	}
	text := ""
	if p.Detail != nil {
		text = p.Detail(code, body)
	}
	if text == "" {
		text = string(body)
	}
	var err error = &notification.StatusError{Code: code, Body: ErrorText(text, secrets)}
	switch {
	case code == http.StatusTooManyRequests || slices.Contains(p.RateLimitCodes, code):
		err = notification.Failed(notification.ReasonRateLimited, err)
		if d, ok := notification.ParseRetryAfter(resp.Header.Get("Retry-After"), now); ok {
			return true, fault.RetryAfter(err, d)
		}
		if p.RetryAfter != nil {
			if d, ok := p.RetryAfter(body); ok {
				return true, fault.RetryAfter(err, min(d, notification.MaxRetryAfter))
			}
		}
		return true, err
	case code/100 == 5:
		return true, notification.Failed(notification.ReasonServerError, err)
	}
	return false, notification.Failed(notification.ReasonClientError, err)
}

// ErrorText is a vendor's error text fit for an error: secrets scrubbed
// (before cutting: a secret cut in two would not be found), valid UTF-8,
// at most 256 bytes, trimmed.
func ErrorText(text string, secrets secret.Set) string {
	text = secrets.Scrub(strings.ToValidUTF8(text, "?"))
	if len(text) > maxErrorText {
		text = strings.ToValidUTF8(text[:maxErrorText], "")
	}
	return strings.TrimSpace(text)
}

// WithContextCause keeps both the context's cause (e.g. a configured
// timeout) and context.DeadlineExceeded or Canceled in err's chain.
func WithContextCause(ctx context.Context, err error) error {
	if ctx.Err() == nil {
		return err
	}
	for _, e := range []error{context.Cause(ctx), ctx.Err()} {
		if !errors.Is(err, e) {
			err = fmt.Errorf("%w: %w", err, e)
		}
	}
	return err
}

// TransportReason classifies an error without an answer.
func TransportReason(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return notification.ReasonTimeout
	case errors.Is(err, context.Canceled):
		return notification.ReasonCanceled
	}
	return notification.ReasonOther
}

// WithTimeout bounds ctx by an integration's timeout setting (0: no bound
// beyond ctx's own); the cause names the integration.
func WithTimeout(ctx context.Context, d time.Duration, name string) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeoutCause(ctx, d, fmt.Errorf("%s timeout of %s reached", name, d))
}

// ellipsis marks a truncated text.
const ellipsis = "…"

// TruncateRunes cuts s to at most n runes, the last one an ellipsis when
// cut; it reports whether it cut.
func TruncateRunes(s string, n int) (string, bool) {
	if utf8.RuneCountInString(s) <= n {
		return s, false
	}
	r := []rune(s)
	if n <= 1 {
		return string(r[:max(n, 0)]), true
	}
	return string(r[:n-1]) + ellipsis, true
}

// TruncateBytes cuts s to at most n bytes of valid UTF-8, the last three
// an ellipsis when cut (dots when n is smaller than that); it reports
// whether it cut.
func TruncateBytes(s string, n int) (string, bool) {
	if len(s) <= n {
		return s, false
	}
	if n < len(ellipsis) {
		return strings.Repeat(".", max(n, 0)), true
	}
	cut := n - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis, true
}
