package nflogstore

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"time"

	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/nflog"
	"github.com/klaxon-alerts/klaxon/services/notifier/notification"
)

// Entry is the record of the last notification sent (or, for an integration
// that does not send resolved alerts, decided) for one group and integration.
type Entry struct {
	GroupKey    string               `json:"groupKey"`
	Integration contract.Integration `json:"integration"`
	// State is the group's alerts at that notification and its flush time
	// (Notification.FlushedAt).
	nflog.State
	// FlushSeq is the group's flush sequence of that notification.
	FlushSeq uint64 `json:"flushSeq"`
	// Message is the message the receiver keeps for the group (a Slack
	// channel and ts, with update_message), edited by the next
	// notification of the same sequence; nil for other integrations.
	Message *notification.Message `json:"message,omitempty"`
	// Claim is set while a notifier sends a flush of the group: written
	// before the send, cleared by the record of the send (or its failure).
	Claim *Claim `json:"claim,omitempty"`
}

// Claim marks a send in progress: which message (its stream sequence on
// the notify stream) sends which flush, and until when the claim holds if
// its sender never clears it (a crash).
type Claim struct {
	StreamSeq uint64    `json:"streamSeq"`
	FlushSeq  uint64    `json:"flushSeq"`
	Until     time.Time `json:"until"`
}

// Claimed returns a copy of e (or a new entry for the notification's group
// and integration, when e is nil) carrying claim c.
func (e *Entry) Claimed(n *contract.Notification, c Claim) *Entry {
	next := e.Released(n)
	next.Claim = &c
	return next
}

// Released returns a copy of e without a claim (a new entry for the
// notification's group and integration, holding no notification, when e is
// nil).
func (e *Entry) Released(n *contract.Notification) *Entry {
	var next Entry
	if e != nil {
		next = *e
	} else {
		next = Entry{GroupKey: n.GroupKey, Integration: n.Integration}
	}
	next.Claim = nil
	return &next
}

// NewEntry records a notification of the group's state at a flush.
func NewEntry(n *contract.Notification, firing, resolved nflog.Set) *Entry {
	return &Entry{
		GroupKey:    n.GroupKey,
		Integration: n.Integration,
		State:       nflog.NewState(firing, resolved, n.FlushedAt),
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

// StateOf is the entry's state for nflog.Decide; nil for no entry, or an
// entry that only holds a claim (nothing notified yet).
func (e *Entry) StateOf() *nflog.State {
	if e == nil || e.Timestamp.IsZero() {
		return nil
	}
	return &e.State
}
