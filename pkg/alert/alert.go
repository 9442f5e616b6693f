// Package alert holds Klaxon's alert model with Alertmanager's semantics:
// the fingerprint, the defaults applied on receipt, validation, the merge of a
// re-received alert into the stored one, and the classification of what
// changed. It is pure Go: no transport, no clock of its own ("now" is always
// an argument).
package alert

import (
	"maps"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// Alert is one alert as Klaxon stores and passes it between stages.
// The JSON field names are Alertmanager's.
type Alert struct {
	Labels       model.LabelSet `json:"labels"`
	Annotations  model.LabelSet `json:"annotations,omitempty"`
	StartsAt     time.Time      `json:"startsAt"`
	EndsAt       time.Time      `json:"endsAt"`
	GeneratorURL string         `json:"generatorURL,omitempty"`
	// UpdatedAt is when Klaxon last received the alert.
	UpdatedAt time.Time `json:"updatedAt"`
	// Timeout is true when EndsAt was not sent and was derived from
	// resolve_timeout; such an end time yields to any explicit one.
	Timeout bool `json:"timeout,omitempty"`
}

// Fingerprint is the alert's identity: prometheus/common's fingerprint of the
// label set, as Alertmanager computes it.
func (a Alert) Fingerprint() model.Fingerprint { return a.Labels.Fingerprint() }

// ResolvedAt reports whether the alert is resolved at t: its end time is set
// and not after t.
func (a Alert) ResolvedAt(t time.Time) bool {
	return !a.EndsAt.IsZero() && !a.EndsAt.After(t)
}

// Status is "firing" or "resolved" at t, as in Alertmanager's payloads.
func (a Alert) Status(t time.Time) string {
	if a.ResolvedAt(t) {
		return "resolved"
	}
	return "firing"
}

// Merge combines the stored alert a with the re-received alert b, following
// Alertmanager: the younger one (by UpdatedAt) wins, except that the earliest
// start time is kept, and the end time is chosen so that an explicit
// resolution or a later explicit end is not lost to a derived one.
func Merge(a, b Alert, now time.Time) Alert {
	if b.UpdatedAt.Before(a.UpdatedAt) {
		a, b = b, a
	}
	res := b
	if a.StartsAt.Before(b.StartsAt) {
		res.StartsAt = a.StartsAt
	}
	if b.ResolvedAt(now) {
		if a.ResolvedAt(now) && a.EndsAt.After(b.EndsAt) {
			res.EndsAt = a.EndsAt
		}
	} else if a.EndsAt.After(b.EndsAt) && !a.Timeout {
		res.EndsAt = a.EndsAt
	}
	return res
}

// Overlaps reports whether the active intervals of a and b overlap, which is
// when Alertmanager merges a re-received alert instead of replacing it.
func Overlaps(a, b Alert) bool {
	return b.EndsAt.After(a.StartsAt) && b.StartsAt.Before(a.EndsAt)
}

// Change says what a received alert changed in the stored state.
type Change string

// The changes that dedup emits. A pure refresh (same labels and annotations,
// same firing state) is ChangeNone and emits nothing.
const (
	ChangeNone     Change = ""
	ChangeNew      Change = "new"      // not stored before
	ChangeFiring   Change = "firing"   // was resolved, fires again
	ChangeResolved Change = "resolved" // was firing, now resolved
	ChangeUpdated  Change = "updated"  // annotations changed
)

// Stored is an alert as dedup keeps it. Its JSON is the alert's, plus two
// fields, so a reader may decode it as an Alert.
type Stored struct {
	Alert
	// Emitted is the status ("firing" or "resolved") of the last change
	// emitted downstream: what the rest of the pipeline believes.
	Emitted string `json:"emitted,omitempty"`
	// ExpiryAt is when the expiry timer is armed; zero when none is.
	ExpiryAt time.Time `json:"expiryAt,omitzero"`
}

// Apply folds the received alert into the stored one (nil when none is
// stored) and returns the new stored state and what changed at now.
func Apply(stored *Stored, received Alert, now time.Time) (Stored, Change) {
	if stored == nil {
		return Stored{Alert: received, Emitted: received.Status(now)}, ChangeNew
	}
	next := *stored
	next.Alert = received
	if Overlaps(stored.Alert, received) {
		next.Alert = Merge(stored.Alert, received, now)
	}
	change := classify(stored.Emitted, next.Alert, now)
	if change == ChangeNone && !maps.Equal(stored.Annotations, next.Annotations) {
		change = ChangeUpdated
	}
	next.Emitted = next.Status(now)
	return next, change
}

// Expire judges a stored alert nobody re-sent when its expiry timer fires:
// if its end time has passed and downstream still believes it fires, it
// resolves now, and UpdatedAt says so: that state is newer than the last
// one received.
func Expire(stored Stored, now time.Time) (Stored, Change) {
	change := classify(stored.Emitted, stored.Alert, now)
	if change != ChangeResolved {
		return stored, ChangeNone
	}
	stored.Emitted = stored.Status(now)
	stored.UpdatedAt = now
	return stored, change
}

// classify compares what downstream believes with the alert's status at now.
func classify(emitted string, a Alert, now time.Time) Change {
	switch status := a.Status(now); {
	case emitted == "firing" && status == "resolved":
		return ChangeResolved
	case emitted == "resolved" && status == "firing":
		return ChangeFiring
	}
	return ChangeNone
}

// Forgotten reports whether a resolved alert has been kept for retention
// after its end and can be removed, as Alertmanager's garbage collection
// removes resolved alerts.
func Forgotten(s Stored, now time.Time, retention time.Duration) bool {
	return s.Emitted == "resolved" && s.ResolvedAt(now) && !now.Before(s.EndsAt.Add(retention))
}

// NextExpiry is when the timer of s should fire, and whether it must be
// (re)armed. A firing alert needs a timer no later than its end; a timer
// armed earlier than the end is left alone and re-armed when it fires
// (lazily), so refreshes that only extend the end cost no timer. A resolved
// alert's timer removes it retention after its end.
func NextExpiry(s Stored, now time.Time, retention time.Duration) (at time.Time, arm bool) {
	if s.ResolvedAt(now) {
		at = s.EndsAt.Add(retention)
		return at, !s.ExpiryAt.Equal(at)
	}
	if s.ExpiryAt.IsZero() || s.ExpiryAt.After(s.EndsAt) {
		return s.EndsAt, true
	}
	return s.ExpiryAt, false
}

// Compare orders alerts as Alertmanager orders a notification's alerts:
// by the job label, then the instance label (an alert with the label comes
// before one without it), then by the whole label set. Truncation
// (max_alerts) keeps the first alerts of this order.
func Compare(a, b Alert) int {
	for _, name := range [...]model.LabelName{"job", "instance"} {
		av, aok := a.Labels[name]
		bv, bok := b.Labels[name]
		switch {
		case !aok && !bok:
			continue
		case !aok:
			return 1
		case !bok:
			return -1
		case av != bv:
			return strings.Compare(string(av), string(bv))
		}
	}
	switch {
	case a.Labels.Before(b.Labels):
		return -1
	case b.Labels.Before(a.Labels):
		return 1
	}
	return 0
}
