// Package webhook is the generic webhook integration: it POSTs Alertmanager's
// version-4 JSON payload to a URL.
//
// Classification of a failed delivery: network errors, timeouts, 5xx and 429
// are retryable (429 with Retry-After carries the delay through
// fault.RetryAfter); any other non-2xx status is final.
//
// The URL is a secret (it often embeds a token): it never appears in an
// error or a log line. Every error leaving Notify goes through
// secret.Redact with the URL's secrets (the URL, its path and query, its
// password).
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	commoncfg "github.com/prometheus/common/config"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/fault"
	"github.com/klaxon-alerts/klaxon/services/notifier/notification"
	"github.com/klaxon-alerts/klaxon/services/notifier/secret"
)

// Version is the payload version, as Alertmanager's.
const Version = "4"

// userAgent is sent with every request.
const userAgent = "Klaxon"

// maxErrorBody bounds how much of a failed response's body goes into the
// error.
const maxErrorBody = 256

// ErrURLFile is returned by Notify when url_file cannot be read or does not
// hold a URL. A failed HTTP answer is a *notification.StatusError.
var ErrURLFile = errors.New("read url_file")

// Message is the JSON payload, Alertmanager's version 4 field for field.
type Message struct {
	*notification.Data

	Version         string `json:"version"`
	GroupKey        string `json:"groupKey"`
	TruncatedAlerts uint64 `json:"truncatedAlerts"`
}

// Notifier sends notifications to one webhook configuration.
type Notifier struct {
	url       *url.URL // nil when read from urlFile at each send
	urlFile   string
	maxAlerts uint64
	timeout   time.Duration
	client    *http.Client
	creds     secret.Set // http_config's inline credentials
	logger    *slog.Logger
	now       func() time.Time // for Retry-After dates
}

// New returns a notifier for cfg. The configuration has been validated (url
// or url_file set); New fails only on an unusable http_config.
func New(cfg *config.WebhookConfig, logger *slog.Logger) (*Notifier, error) {
	httpCfg := commoncfg.DefaultHTTPClientConfig
	if cfg.HTTPConfig != nil {
		httpCfg = cfg.HTTPConfig.HTTPClientConfig
	}
	client, err := commoncfg.NewClientFromConfig(httpCfg, "webhook", commoncfg.WithUserAgent(userAgent))
	if err != nil {
		return nil, fmt.Errorf("webhook http_config: %w", err)
	}
	n := &Notifier{
		urlFile:   cfg.URLFile,
		maxAlerts: cfg.MaxAlerts,
		timeout:   time.Duration(cfg.Timeout),
		client:    client,
		creds:     secret.HTTPConfig(&httpCfg),
		logger:    logger,
		now:       time.Now,
	}
	if cfg.URL != nil && cfg.URL.URL != nil {
		n.url = cfg.URL.URL
	}
	if n.url == nil && n.urlFile == "" {
		return nil, errors.New("webhook: neither url nor url_file is set")
	}
	return n, nil
}

// Notify delivers the notification. It reports whether a failure is worth
// retrying; the error never contains the URL.
func (n *Notifier) Notify(ctx context.Context, nt *notification.Notification) (retryable bool, err error) {
	alerts, truncated := truncate(nt.Alerts, n.maxAlerts)
	msg := Message{
		Data:            notification.NewData(nt.Receiver, nt.GroupLabels, alerts, nt.At, nt.Reason, nt.ExternalURL),
		Version:         Version,
		GroupKey:        nt.GroupKey,
		TruncatedAlerts: truncated,
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return false, fmt.Errorf("encode webhook payload: %w", err)
	}

	u, err := n.target()
	if err != nil {
		// A file being rotated (a mounted secret) reads fine a moment later.
		return true, err
	}
	if n.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, n.timeout,
			fmt.Errorf("webhook timeout of %s reached", n.timeout))
		defer cancel()
	}
	secrets := secret.URL(u).With(n.creds)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return false, secrets.Redact(fmt.Errorf("build webhook request: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")

	resp, err := n.client.Do(req)
	if err != nil {
		// Redact before the error's text is captured by any wrapping.
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = secret.Redacted
		}
		// Keep both the timeout's cause and context.DeadlineExceeded (or
		// Canceled) in the chain, whichever net/http reported.
		if ctx.Err() != nil {
			for _, e := range []error{context.Cause(ctx), ctx.Err()} {
				if !errors.Is(err, e) {
					err = fmt.Errorf("%w: %w", err, e)
				}
			}
		}
		return true, secrets.Redact(fmt.Errorf("post webhook: %w", err))
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		_ = resp.Body.Close()
	}()
	retryable, err = classify(resp, n.now(), secrets)
	if err != nil {
		return retryable, secrets.Redact(err)
	}
	n.logger.DebugContext(ctx, "webhook notified",
		slog.String("receiver", nt.Receiver),
		slog.Int("status", resp.StatusCode),
		slog.Int("alerts", len(alerts)),
		slog.Uint64("truncated", truncated))
	return false, nil
}

// target returns the URL to post to: the configured one, or the content of
// url_file read at each send (so that a rotated secret takes effect).
func (n *Notifier) target() (*url.URL, error) {
	if n.url != nil {
		return n.url, nil
	}
	content, err := os.ReadFile(n.urlFile)
	if err != nil {
		// The path is configuration, not the secret; the file's content is.
		return nil, fmt.Errorf("%w %s: %w", ErrURLFile, n.urlFile, err)
	}
	raw := strings.TrimSpace(string(content))
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse quotes its input: do not wrap its error.
		return nil, fmt.Errorf("%w %s: content is not a valid URL", ErrURLFile, n.urlFile)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%w %s: URL scheme must be http or https", ErrURLFile, n.urlFile)
	}
	return u, nil
}

// truncate keeps the first max alerts (0: all) and counts the rest.
func truncate(alerts []alert.Alert, max uint64) ([]alert.Alert, uint64) {
	if max == 0 || uint64(len(alerts)) <= max {
		return alerts, 0
	}
	return alerts[:max], uint64(len(alerts)) - max
}

// classify maps a response to (retryable, error): 2xx ok; 429 and 5xx
// retryable (429 with its Retry-After); anything else final.
func classify(resp *http.Response, now time.Time, secrets secret.Set) (bool, error) {
	code := resp.StatusCode
	if code/100 == 2 {
		return false, nil
	}
	var err error = &notification.StatusError{Code: code, Body: readSnippet(resp.Body, secrets)}
	switch {
	case code == http.StatusTooManyRequests:
		if d, ok := notification.ParseRetryAfter(resp.Header.Get("Retry-After"), now); ok {
			return true, fault.RetryAfter(err, d)
		}
		return true, err
	case code/100 == 5:
		return true, err
	}
	return false, err
}

// readSnippet reads the start of a failed answer for the error, secrets
// scrubbed before it is cut (a secret cut in two would not be found).
func readSnippet(body io.Reader, secrets secret.Set) string {
	b, _ := io.ReadAll(io.LimitReader(body, 16*maxErrorBody))
	text := secrets.Scrub(strings.ToValidUTF8(string(b), "?"))
	if len(text) > maxErrorBody {
		text = strings.ToValidUTF8(text[:maxErrorBody], "")
	}
	return strings.TrimSpace(text)
}
