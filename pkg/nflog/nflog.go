// Package nflog holds the rules of the notification log: what is remembered
// of the last notification of one aggregation group to one receiver
// integration (State), and Alertmanager's DedupStage decision of whether a
// flush of that group must be sent (Decide).
//
// The notifier decides with it before each send; the grouper decides with
// it too, to know when a group's next notification can be due (a repeat),
// so that it wakes the group then and not on every tick.
//
// It is pure Go: no transport, no storage and no clock of its own ("now" is
// always an argument, and it is the flush time, never the time the code
// happens to run). The notifier's stored entries are package
// services/notifier/nflogstore.
package nflog

import (
	"maps"
	"slices"
	"time"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
)

// Set is a set of alert fingerprints (16 hex digits, as alert.Alert's
// Fingerprint().String()).
type Set map[string]struct{}

// NewSet returns the set of the given fingerprints.
func NewSet(fps ...string) Set {
	s := make(Set, len(fps))
	for _, fp := range fps {
		s[fp] = struct{}{}
	}
	return s
}

// Sorted returns the fingerprints in order, for a stable stored form; never
// nil, so that an empty set is stored as [] rather than null.
func (s Set) Sorted() []string {
	fps := slices.AppendSeq(make([]string, 0, len(s)), maps.Keys(s))
	slices.Sort(fps)
	return fps
}

// subsetOf reports whether every member of s is in of.
func (s Set) subsetOf(of Set) bool {
	for fp := range s {
		if _, ok := of[fp]; !ok {
			return false
		}
	}
	return true
}

// Partition splits alerts into firing and resolved at t (the flush time).
func Partition(alerts []alert.Alert, t time.Time) (firing, resolved Set) {
	firing, resolved = make(Set, len(alerts)), make(Set, len(alerts))
	for _, a := range alerts {
		fp := a.Fingerprint().String()
		if a.ResolvedAt(t) {
			resolved[fp] = struct{}{}
		} else {
			firing[fp] = struct{}{}
		}
	}
	return firing, resolved
}

// State is what the log remembers of a notification: the group's firing
// and resolved alerts at it (sorted fingerprints; what was delivered may be
// fewer: send_resolved false, max_alerts, as in Alertmanager) and its flush
// time, from which the repeat interval is measured.
type State struct {
	Firing    []string  `json:"firing"`
	Resolved  []string  `json:"resolved"`
	Timestamp time.Time `json:"timestamp"`
}

// NewState records the group's firing and resolved alerts at a flush at.
func NewState(firing, resolved Set, at time.Time) State {
	return State{Firing: firing.Sorted(), Resolved: resolved.Sorted(), Timestamp: at}
}

// Reason is why a flush is notified, or ReasonNone. The strings are
// Alertmanager's (its notification_reason).
type Reason int

// The reasons of Alertmanager's DedupStage.
const (
	ReasonNone Reason = iota
	ReasonFirstNotification
	ReasonNewAlerts
	ReasonNewResolved
	ReasonAllResolved
	ReasonRepeatIntervalElapsed
)

// String returns Alertmanager's text for the reason.
func (r Reason) String() string {
	switch r {
	case ReasonNone:
		return "none"
	case ReasonFirstNotification:
		return "first notification"
	case ReasonNewAlerts:
		return "new alerts added"
	case ReasonNewResolved:
		return "some alerts resolved"
	case ReasonAllResolved:
		return "all alerts resolved"
	case ReasonRepeatIntervalElapsed:
		return "repeat interval elapsed"
	}
	return "unknown"
}

// Label returns the reason as a metric label value, e.g. "new_alerts_added".
func (r Reason) Label() string {
	b := []byte(r.String())
	for i, c := range b {
		if c == ' ' {
			b[i] = '_'
		}
	}
	return string(b)
}

// Decide is Alertmanager's DedupStage decision for one flush: given the state
// of the last notification (nil if none), the group's firing and resolved
// alerts at the flush, whether the integration sends resolved alerts, the
// route's repeat interval and the flush time, it says whether to notify and
// why. The rules, in order:
//
//   - no entry: notify if anything fires (first notification);
//   - an alert fires that the last notification did not show as firing: new
//     alerts, or a first notification when the last one had nothing firing
//     (it closed the previous sequence);
//   - nothing fires: all resolved if the last notification showed firing
//     alerts, whatever send_resolved says, so that the log is cleared;
//     otherwise nothing (alerts fired and resolved unseen);
//   - with send_resolved, an alert resolved that the last notification did
//     not show as resolved: some alerts resolved;
//   - otherwise only once the repeat interval has passed since the last
//     notification (strictly: at exactly the interval it has not).
func Decide(entry *State, firing, resolved Set, sendResolved bool, repeat time.Duration, now time.Time) (bool, Reason) {
	r := decide(entry, firing, resolved, sendResolved, repeat, now)
	return r != ReasonNone, r
}

func decide(entry *State, firing, resolved Set, sendResolved bool, repeat time.Duration, now time.Time) Reason {
	if entry == nil {
		if len(firing) > 0 {
			return ReasonFirstNotification
		}
		return ReasonNone
	}
	if !firing.subsetOf(NewSet(entry.Firing...)) {
		if len(entry.Firing) == 0 {
			return ReasonFirstNotification
		}
		return ReasonNewAlerts
	}
	if len(firing) == 0 {
		if len(entry.Firing) > 0 {
			return ReasonAllResolved
		}
		return ReasonNone
	}
	if sendResolved && !resolved.subsetOf(NewSet(entry.Resolved...)) {
		return ReasonNewResolved
	}
	if entry.Timestamp.Before(now.Add(-repeat)) {
		return ReasonRepeatIntervalElapsed
	}
	return ReasonNone
}
