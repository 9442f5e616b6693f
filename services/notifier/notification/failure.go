package notification

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Failure reasons: why a delivery failed, as the notifier counts them
// (klaxon_notifications_failed_total{reason}).
const (
	ReasonClientError = "client_error" // the receiver refused the request (4xx, Slack ok:false, SMTP 5xx): final
	ReasonServerError = "server_error" // the receiver failed (5xx, SMTP 4xx): retried
	ReasonRateLimited = "rate_limited" // 429: retried after Retry-After
	ReasonTemplate    = "template"     // a template failed: final
	ReasonConfig      = "config"       // the integration's configuration is unusable: final
	ReasonTimeout     = "timeout"
	ReasonCanceled    = "canceled" // shutdown while sending: retried
	ReasonOther       = "other"    // network and the rest
)

// failure is an error marked with a failure reason.
type failure struct {
	reason string
	err    error
}

func (f *failure) Error() string { return f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

// Failed marks err with a failure reason (one of the Reason constants).
// Failed(_, nil) is nil.
func Failed(reason string, err error) error {
	if err == nil {
		return nil
	}
	return &failure{reason: reason, err: err}
}

// FailureReason returns the reason err (or an error it wraps) was marked
// with by Failed.
func FailureReason(err error) (string, bool) {
	var f *failure
	if errors.As(err, &f) {
		return f.reason, true
	}
	return "", false
}

// MaxRetryAfter caps a receiver's Retry-After: a notification is not held
// back for longer than this on a receiver's word.
const MaxRetryAfter = time.Hour

// ParseRetryAfter parses an HTTP Retry-After header: delay seconds or an
// HTTP date (relative to now), capped at MaxRetryAfter. ok is false for an
// empty or unreadable value.
func ParseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter, true
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), MaxRetryAfter), true
	}
	return 0, false
}

// Message identifies a message a receiver keeps (a Slack channel and
// message ts), recorded in the notification log so that a later
// notification of the same group can edit it.
type Message struct {
	Channel string `json:"channel"`
	ID      string `json:"id"`
}
