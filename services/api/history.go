package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/bus"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/dlq"
	"github.com/klaxon-alerts/klaxon/pkg/kvcache"
)

// History bounds: a query reads the streams from since (default
// defaultHistoryWindow before now), at most maxHistoryScan messages of each,
// and answers at most limit events (the newest).
const (
	defaultHistoryWindow = 6 * time.Hour
	maxHistoryWindow     = 14 * 24 * time.Hour
	defaultHistoryLimit  = 500
	maxHistoryLimit      = 5000
	maxHistoryScan       = 100_000
)

// Event kinds of the history.
const (
	EventChanged      = "changed"      // dedup: new, firing, resolved, updated
	EventRouted       = "routed"       // router: matched a route → receiver, group
	EventNotification = "notification" // grouper: a flush for one integration
	EventSuppressed   = "suppressed"   // grouper: left out of a flush, and why
	EventDeadLetter   = "dead_letter"  // any stage gave up on it
)

// Outcomes of a notification event, from the notification log and the
// dead letters.
const (
	OutcomeNotified   = "notified"   // the log records this flush as the last one decided
	OutcomeSuperseded = "superseded" // a later flush of the group was decided since
	OutcomePending    = "pending"    // not decided yet (in flight or being retried)
	OutcomeDeadLetter = "dead_letter"
)

// historyEvent is one thing that happened to an alert or group.
type historyEvent struct {
	At     time.Time `json:"at"`
	Kind   string    `json:"kind"`
	Stream string    `json:"stream"`
	Seq    uint64    `json:"seq"`
	// Fingerprints are the alerts of the query the event concerns.
	Fingerprints []string `json:"fingerprints,omitempty"`
	Change       string   `json:"change,omitempty"`
	Status       string   `json:"status,omitempty"`
	Receiver     string   `json:"receiver,omitempty"`
	GroupKey     string   `json:"groupKey,omitempty"`
	RouteID      string   `json:"routeId,omitempty"`
	Integration  string   `json:"integration,omitempty"` // type[index]
	FlushSeq     uint64   `json:"flushSeq,omitempty"`
	Alerts       int      `json:"alerts,omitempty"`
	Outcome      string   `json:"outcome,omitempty"`
	// Reason: the suppression reason, or the dead letter's error.
	Reason      string   `json:"reason,omitempty"`
	SilencedBy  []string `json:"silencedBy,omitempty"`
	InhibitedBy []string `json:"inhibitedBy,omitempty"`
	MutedBy     []string `json:"mutedBy,omitempty"`
	// Deliveries is how often the dead-lettered message was delivered.
	Deliveries string `json:"deliveries,omitempty"`
	DeadLetter uint64 `json:"deadLetter,omitempty"` // its id (klaxon dlq --id)
}

type historyAnswer struct {
	Since     time.Time      `json:"since"`
	Events    []historyEvent `json:"events"`
	Scanned   int            `json:"scanned"`
	Truncated bool           `json:"truncated"`
}

// historyQuery is what GET /api/klaxon/v1/history asks for: an alert by
// fingerprint, or a group by group key (or both), in a time window.
type historyQuery struct {
	fingerprint, groupKey string
	since                 time.Time
	limit                 int
}

func parseHistoryQuery(r *http.Request, now time.Time) (historyQuery, error) {
	q := r.URL.Query()
	hq := historyQuery{fingerprint: q.Get("fingerprint"), groupKey: q.Get("groupKey"),
		since: now.Add(-defaultHistoryWindow), limit: defaultHistoryLimit}
	if hq.fingerprint == "" && hq.groupKey == "" {
		return hq, errors.New("history: want fingerprint or groupKey")
	}
	if hq.fingerprint != "" {
		if _, err := strconv.ParseUint(hq.fingerprint, 16, 64); err != nil || len(hq.fingerprint) != 16 {
			return hq, fmt.Errorf("history: fingerprint must be 16 hex digits: %q", hq.fingerprint)
		}
	}
	if s := q.Get("since"); s != "" {
		if d, err := time.ParseDuration(s); err == nil {
			hq.since = now.Add(-d)
		} else if t, err := time.Parse(time.RFC3339, s); err == nil {
			hq.since = t
		} else {
			return hq, fmt.Errorf("history: since must be a duration (6h) or an RFC 3339 time: %q", s)
		}
	}
	if hq.since.Before(now.Add(-maxHistoryWindow)) {
		hq.since = now.Add(-maxHistoryWindow)
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxHistoryLimit {
			return hq, fmt.Errorf("history: limit must be 1..%d: %q", maxHistoryLimit, s)
		}
		hq.limit = n
	}
	return hq, nil
}

// matchAlerts returns the fingerprints of alerts the query is about.
func (q historyQuery) matchAlerts(alerts []alert.Alert) []string {
	var fps []string
	for _, a := range alerts {
		if fp := a.Fingerprint().String(); q.fingerprint == "" || fp == q.fingerprint {
			fps = append(fps, fp)
		}
	}
	return fps
}

func (q historyQuery) groupMatches(key string) bool { return q.groupKey == "" || q.groupKey == key }

// event turns one stored message into an event of the query, or nil.
func (q historyQuery) event(subject string, data []byte) *historyEvent {
	switch {
	case strings.HasPrefix(subject, contract.SubjectAlertsChanged):
		var ev contract.AlertChanged
		if json.Unmarshal(data, &ev) != nil || q.groupKey != "" || ev.Fingerprint != q.fingerprint {
			return nil
		}
		return &historyEvent{Kind: EventChanged, Fingerprints: []string{ev.Fingerprint}, Change: string(ev.Change)}
	case strings.HasPrefix(subject, contract.SubjectAlertsRouted):
		var ev contract.AlertRouted
		if json.Unmarshal(data, &ev) != nil || !q.groupMatches(ev.Route.GroupKey) || (q.fingerprint != "" && ev.Fingerprint != q.fingerprint) {
			return nil
		}
		return &historyEvent{Kind: EventRouted, Fingerprints: []string{ev.Fingerprint}, Change: string(ev.Change),
			Receiver: ev.Route.Receiver, GroupKey: ev.Route.GroupKey, RouteID: ev.Route.ID}
	case strings.HasPrefix(subject, contract.SubjectNotifyPrefix):
		var n contract.Notification
		if json.Unmarshal(data, &n) != nil || !q.groupMatches(n.GroupKey) {
			return nil
		}
		fps := q.matchAlerts(n.Alerts)
		if q.fingerprint != "" && len(fps) == 0 {
			return nil
		}
		return &historyEvent{Kind: EventNotification, Fingerprints: fps, Receiver: n.Integration.Receiver,
			GroupKey: n.GroupKey, Integration: fmt.Sprintf("%s[%d]", n.Integration.Type, n.Integration.Index),
			FlushSeq: n.FlushSeq, Alerts: len(n.Alerts)}
	case strings.HasPrefix(subject, contract.SubjectSuppressedPrefix):
		var s contract.Suppressed
		if json.Unmarshal(data, &s) != nil || !q.groupMatches(s.GroupKey) {
			return nil
		}
		ev := &historyEvent{Kind: EventSuppressed, Reason: s.Reason, Receiver: s.Receiver, GroupKey: s.GroupKey,
			RouteID: s.RouteID, MutedBy: s.MutedBy, Alerts: len(s.Alerts)}
		for _, a := range s.Alerts {
			if q.fingerprint == "" || a.Fingerprint == q.fingerprint {
				ev.Fingerprints = append(ev.Fingerprints, a.Fingerprint)
				ev.Status = a.Status
				ev.SilencedBy = appendNew(ev.SilencedBy, a.SilencedBy...)
				ev.InhibitedBy = appendNew(ev.InhibitedBy, a.InhibitedBy...)
			}
		}
		if len(ev.Fingerprints) == 0 {
			return nil
		}
		return ev
	}
	return nil
}

func appendNew(dst []string, vs ...string) []string {
	for _, v := range vs {
		if !slices.Contains(dst, v) {
			dst = append(dst, v)
		}
	}
	return dst
}

// historyStreams are the streams an alert's or group's history is read
// from; the dead letters are read through package dlq.
var historyStreams = []string{contract.StreamAlerts, contract.StreamRouted, contract.StreamNotify, contract.StreamSuppressed}

// getHistory is GET /api/klaxon/v1/history?fingerprint=|groupKey=[&since=][&limit=]:
// what happened to an alert or a group, oldest first, from the streams
// Klaxon keeps (alert changes and routing, flushes per integration with the
// notification log's outcome, suppressions with their reasons, dead
// letters). Bounded: the window starts at since (default 6h ago, at most
// 14 days), at most 100,000 messages of each stream are read, and the
// newest limit events (default 500) are answered; truncated says when a
// bound cut the answer.
func (srv *API) getHistory(w http.ResponseWriter, r *http.Request) {
	now := srv.opts.Now()
	q, err := parseHistoryQuery(r, now)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	ans := historyAnswer{Since: q.since.UTC(), Events: []historyEvent{}}
	for _, name := range historyStreams {
		scanned, truncated, err := scanStream(ctx, srv.opts.JS, name, q.since, func(seq uint64, at time.Time, subject string, data []byte) {
			if ev := q.event(subject, data); ev != nil {
				ev.At, ev.Stream, ev.Seq = at.UTC(), name, seq
				ans.Events = append(ans.Events, *ev)
			}
		})
		if err != nil {
			srv.readFailed(w, "history", err)
			return
		}
		ans.Scanned += scanned
		ans.Truncated = ans.Truncated || truncated
	}
	letters, err := dlq.New(srv.opts.JS).List(ctx, "")
	if err != nil {
		srv.readFailed(w, "history", err)
		return
	}
	if err := srv.outcomes(ctx, q, ans.Events, letters); err != nil {
		srv.readFailed(w, "history", err)
		return
	}
	for _, l := range letters {
		if l.Stored.Before(q.since) || l.Err != nil {
			continue
		}
		if ev := q.event(l.Subject, l.Payload); ev != nil {
			ev.Kind, ev.Outcome = EventDeadLetter, ""
			ev.At, ev.Stream, ev.Seq, ev.DeadLetter = l.Stored.UTC(), contract.StreamDLQ, l.Seq, l.Seq
			ev.Reason, ev.Deliveries = l.Reason, l.Headers[bus.MetaDeliveries]
			ans.Events = append(ans.Events, *ev)
		}
	}
	slices.SortStableFunc(ans.Events, func(a, b historyEvent) int { return a.At.Compare(b.At) })
	if len(ans.Events) > q.limit {
		ans.Events, ans.Truncated = ans.Events[len(ans.Events)-q.limit:], true
	}
	writeJSON(w, http.StatusOK, ans)
}

// nflogEntry is what the history reads of a klaxon-nflog value, which the
// notifier writes (services/notifier/nflogstore.Entry): the last flush
// decided for a group and integration.
type nflogEntry struct {
	GroupKey    string               `json:"groupKey"`
	Integration contract.Integration `json:"integration"`
	FlushSeq    uint64               `json:"flushSeq"`
	Timestamp   time.Time            `json:"timestamp"`
}

// outcomes sets the outcome of each notification event: dead-lettered, or
// as the notification log tells it.
func (srv *API) outcomes(ctx context.Context, q historyQuery, events []historyEvent, letters []dlq.Letter) error {
	if !slices.ContainsFunc(events, func(e historyEvent) bool { return e.Kind == EventNotification }) {
		return nil
	}
	entries, err := kvcache.Snapshot(ctx, srv.opts.JS, contract.BucketNflog, func(e jetstream.KeyValueEntry) (nflogEntry, error) {
		var n nflogEntry
		err := json.Unmarshal(e.Value(), &n)
		return n, err
	})
	if err != nil {
		return err
	}
	type key struct {
		group, integration string
		seq                uint64
	}
	logged := map[key]uint64{}
	for _, e := range entries {
		if q.groupMatches(e.GroupKey) {
			logged[key{e.GroupKey, fmt.Sprintf("%s/%s[%d]", e.Integration.Receiver, e.Integration.Type, e.Integration.Index), 0}] = e.FlushSeq
		}
	}
	dead := map[key]bool{}
	for _, l := range letters {
		var n contract.Notification
		if strings.HasPrefix(l.Subject, contract.SubjectNotifyPrefix) && json.Unmarshal(l.Payload, &n) == nil {
			dead[key{n.GroupKey, fmt.Sprintf("%s/%s[%d]", n.Integration.Receiver, n.Integration.Type, n.Integration.Index), n.FlushSeq}] = true
		}
	}
	for i := range events {
		e := &events[i]
		if e.Kind != EventNotification {
			continue
		}
		k := key{e.GroupKey, e.Receiver + "/" + e.Integration, e.FlushSeq}
		seq, ok := logged[key{k.group, k.integration, 0}]
		switch {
		case dead[k]:
			e.Outcome = OutcomeDeadLetter
		case ok && seq == e.FlushSeq:
			e.Outcome = OutcomeNotified
		case ok && seq > e.FlushSeq:
			e.Outcome = OutcomeSuperseded
		default:
			e.Outcome = OutcomePending
		}
	}
	return nil
}

// scanStream reads the messages of stream stored since, in order, with an
// ordered consumer; it stops after maxHistoryScan (truncated).
func scanStream(ctx context.Context, js jetstream.JetStream, name string, since time.Time, fn func(seq uint64, at time.Time, subject string, data []byte)) (scanned int, truncated bool, err error) {
	stream, err := js.Stream(ctx, name)
	if err != nil {
		return 0, false, fmt.Errorf("stream %s: %w", name, err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return 0, false, fmt.Errorf("stream %s: %w", name, err)
	}
	if info.State.Msgs == 0 || info.State.LastTime.Before(since) {
		return 0, false, nil
	}
	cons, err := js.OrderedConsumer(ctx, name, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &since,
	})
	if err != nil {
		return 0, false, fmt.Errorf("read %s: %w", name, err)
	}
	// Ask for no more than the window holds: a fetch waits for a full
	// batch.
	want := uint64(maxHistoryScan)
	if info := cons.CachedInfo(); info != nil {
		want = info.NumPending
	}
	for want > 0 {
		batch, err := cons.Fetch(int(min(256, want, uint64(maxHistoryScan-scanned))), jetstream.FetchMaxWait(fetchWait))
		if err != nil {
			return scanned, false, fmt.Errorf("read %s: %w", name, err)
		}
		got, pending := 0, uint64(0)
		for m := range batch.Messages() {
			md, err := m.Metadata()
			if err != nil {
				return scanned, false, fmt.Errorf("read %s: %w", name, err)
			}
			fn(md.Sequence.Stream, md.Timestamp, m.Subject(), m.Data())
			got, pending = got+1, md.NumPending
		}
		scanned += got
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return scanned, false, fmt.Errorf("read %s: %w", name, err)
		}
		if got == 0 || pending == 0 {
			return scanned, false, nil
		}
		if scanned >= maxHistoryScan {
			return scanned, true, nil
		}
		want = pending
	}
	return scanned, false, nil
}

// fetchWait bounds the wait for a batch the stream said it holds.
const fetchWait = 5 * time.Second
