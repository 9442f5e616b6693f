// Package nflog is the domain of the notification log: what one entry records
// about the last notification of one aggregation group to one receiver
// integration, and Alertmanager's DedupStage decision of whether a flush of
// that group must be sent.
//
// It is pure Go: no transport, no storage and no clock of its own ("now" is
// always an argument, and it is the flush time, never the time the notifier
// happens to run). The JetStream KV store of entries is package nflogstore.
package nflog

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"maps"
	"slices"
	"time"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/services/notifier/notification"
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

// Entry is the record of the last notification sent (or, for an integration
// that does not send resolved alerts, decided) for one group and integration.
type Entry struct {
	GroupKey    string               `json:"groupKey"`
	Integration contract.Integration `json:"integration"`
	// Firing and Resolved are the group's alerts at that notification, sorted
	// fingerprints; what was actually delivered may be fewer (send_resolved
	// false, max_alerts), as in Alertmanager.
	Firing   []string `json:"firing"`
	Resolved []string `json:"resolved"`
	// Timestamp is the flush time of the notification (Notification.FlushedAt);
	// the repeat interval is measured from it.
	Timestamp time.Time `json:"timestamp"`
	// FlushSeq is the group's flush sequence of that notification.
	FlushSeq uint64 `json:"flushSeq"`
	// Message is the message the receiver keeps for the group (a Slack
	// channel and ts, with update_message), edited by the next
	// notification of the same sequence; nil for other integrations.
	Message *notification.Message `json:"message,omitempty"`
}

// NewEntry records a notification of the group's state at a flush.
func NewEntry(n *contract.Notification, firing, resolved Set) *Entry {
	return &Entry{
		GroupKey:    n.GroupKey,
		Integration: n.Integration,
		Firing:      firing.Sorted(),
		Resolved:    resolved.Sorted(),
		Timestamp:   n.FlushedAt,
		FlushSeq:    n.FlushSeq,
	}
}

// Covers reports whether the entry already accounts for the flush (seq, at):
// the flush was handled before (a redelivery) or a later flush of the same
// group was. Such a flush is done without sending.
//
// The flush time guards against a group that was deleted and created again
// with its sequence started anew: a flush later than the entry's is never
// covered, whatever its sequence.
func (e *Entry) Covers(seq uint64, at time.Time) bool {
	if e == nil {
		return false
	}
	return e.FlushSeq >= seq && !at.After(e.Timestamp)
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

// Decide is Alertmanager's DedupStage decision for one flush: given the entry
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
func Decide(entry *Entry, firing, resolved Set, sendResolved bool, repeat time.Duration, now time.Time) (bool, Reason) {
	r := decide(entry, firing, resolved, sendResolved, repeat, now)
	return r != ReasonNone, r
}

func decide(entry *Entry, firing, resolved Set, sendResolved bool, repeat time.Duration, now time.Time) Reason {
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

// Key is the notification log key of one group and receiver integration, as
// Alertmanager's log is keyed (group key, receiver, integration type and
// index). KV keys allow only [-/_=.a-zA-Z0-9], and group keys and receiver
// names hold anything, so the key is a hash: 32 hex digits of SHA-256 over
// the length-prefixed parts.
func Key(groupKey string, in contract.Integration) string {
	h := sha256.New()
	for _, part := range []string{groupKey, in.Receiver, in.Type} {
		_ = binary.Write(h, binary.BigEndian, uint64(len(part)))
		h.Write([]byte(part))
	}
	_ = binary.Write(h, binary.BigEndian, int64(in.Index))
	return hex.EncodeToString(h.Sum(nil)[:16])
}
