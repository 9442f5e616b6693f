// Package fault classifies errors as retryable or final.
//
// Every stage returns errors through this classification: a retryable error
// leaves the input message to be redelivered with backoff (NakWithDelay), a
// final error sends it to the dead-letter subject with the reason and acks it.
// An error that was never classified is retryable: losing a message because
// of an unexpected error is worse than retrying it.
package fault

import (
	"errors"
	"time"
)

// finalError marks an error as final: retrying the same input cannot succeed.
type finalError struct{ err error }

func (e finalError) Error() string { return e.err.Error() }
func (e finalError) Unwrap() error { return e.err }

// Final marks err as final. Final(nil) is nil.
func Final(err error) error {
	if err == nil {
		return nil
	}
	return finalError{err: err}
}

// IsFinal reports whether err, or any error it wraps, was marked final.
func IsFinal(err error) bool {
	var f finalError
	return errors.As(err, &f)
}

// retryAfterError carries a server's request to wait before retrying.
type retryAfterError struct {
	err   error
	after time.Duration
}

func (e retryAfterError) Error() string { return e.err.Error() }
func (e retryAfterError) Unwrap() error { return e.err }

// RetryAfter marks err as retryable after at least d (e.g. HTTP 429 Retry-After).
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return retryAfterError{err: err, after: d}
}

// RetryDelay returns the delay requested with RetryAfter, if any.
func RetryDelay(err error) (time.Duration, bool) {
	var r retryAfterError
	if errors.As(err, &r) {
		return r.after, true
	}
	return 0, false
}
