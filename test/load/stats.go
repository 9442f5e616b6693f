package load

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
)

// Percentile returns the p-th percentile (0 < p ≤ 100) of samples by the
// nearest-rank method: the smallest sample with at least p% of the samples
// at or below it. It returns 0 for no samples. samples need not be sorted
// and is not modified.
func Percentile(samples []time.Duration, p float64) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	rank = min(max(rank, 1), len(s))
	return s[rank-1]
}

// Result is what one target did under the load.
type Result struct {
	Name   string
	Target string

	// Elapsed is the load phase: from the first scheduled batch until the
	// last sender finished, and at least the scheduled Duration.
	Elapsed time.Duration

	Requests       int
	AlertsSent     int
	AlertsAccepted int
	// AlertsProcessed were taken into the pipeline during the load phase:
	// Klaxon's dedup count; the accepted ones for a target without it.
	AlertsProcessed int
	// AlertsSkipped were due but not sent: the senders' queue was full.
	AlertsSkipped int
	// Status counts requests by HTTP status code, or by "error" for a
	// request that got no response.
	Status map[string]int

	HTTP []time.Duration // per request
	E2E  []time.Duration // per alert

	// E2EExpected is the number of distinct alerts accepted at least once,
	// E2EReceived how many of them reached the sink before the drain ended.
	E2EExpected int
	E2EReceived int

	// Series is the run second by second, from the start of the load to
	// the end of the drain.
	Series []Second

	// IdleCPU is the share of a core the target used while idle after the
	// drain (Options.Idle; compare mode).
	IdleCPU float64
	// LoadCPU is the target's CPU time from the start of the load to the
	// end of the drain, and ProcessedByDrain what it had processed by then
	// (compare mode).
	LoadCPU          time.Duration
	ProcessedByDrain int
	// FirstNotifiedRate is the alerts first notified per second, from the
	// start of the load to the last of them: the pipeline's rate end to
	// end.
	FirstNotifiedRate float64
	// FlushSpacing is how much later than group_interval each group's
	// flush came after the one before (e2eRecorder.spacing).
	FlushSpacing []time.Duration
	// Lateness is the p50 and p99 of Klaxon's
	// klaxon_grouper_flush_lateness_seconds over the run (from its
	// buckets); ok false for a target without it.
	Lateness   [2]time.Duration
	LatenessOK bool

	// Process figures, in compare mode only.
	CPU     time.Duration
	PeakRSS int64 // bytes
}

// AcceptedRate is accepted alerts per second over the load phase.
func (r Result) AcceptedRate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.AlertsAccepted) / r.Elapsed.Seconds()
}

// ProcessedRate is processed alerts per second over the load phase.
func (r Result) ProcessedRate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.AlertsProcessed) / r.Elapsed.Seconds()
}

// CPUPer1000 is the CPU time per 1,000 alerts processed, over the load
// and the drain.
func (r Result) CPUPer1000() time.Duration {
	if r.ProcessedByDrain <= 0 {
		return 0
	}
	return r.LoadCPU * 1000 / time.Duration(r.ProcessedByDrain)
}

// StatusSummary lists the request counts by status, e.g. "200:310 503:2".
func (r Result) StatusSummary() string {
	if len(r.Status) == 0 {
		return "-"
	}
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(r.Status)) {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s:%d", k, r.Status[k])
	}
	return b.String()
}

// requestStats collects the senders' figures.
type requestStats struct {
	mu       sync.Mutex
	requests int
	sent     int
	accepted int
	status   map[string]int
	http     []time.Duration
}

func (s *requestStats) add(status string, alerts int, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status == nil {
		s.status = map[string]int{}
	}
	s.requests++
	s.sent += alerts
	s.status[status]++
	s.http = append(s.http, d)
	if status == "200" {
		s.accepted += alerts
	}
}

// e2eRecorder matches webhook payloads to the first POST of each alert.
type e2eRecorder struct {
	mu      sync.Mutex
	alerts  map[string]*e2eEntry
	samples []time.Duration
	// For the run's seconds (Result.Series): when alerts were accepted,
	// and when each was first notified, with its latency.
	acceptances []stamp
	arrivals    []arrival
	// groups are the times each group's notifications came.
	groups map[string][]time.Time
}

type arrival struct {
	at      time.Time
	latency time.Duration
}

type e2eEntry struct {
	firstPost time.Time
	accepted  bool
	received  bool
}

func newE2ERecorder() *e2eRecorder {
	return &e2eRecorder{alerts: map[string]*e2eEntry{}, groups: map[string][]time.Time{}}
}

// posted records that ids are being posted at t (only the first time counts).
func (r *e2eRecorder) posted(ids []string, t time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		if _, ok := r.alerts[id]; !ok {
			r.alerts[id] = &e2eEntry{firstPost: t}
		}
	}
}

// accepted records that ids were accepted (a 200 answer) at t.
func (r *e2eRecorder) accepted(ids []string, t time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.acceptances = append(r.acceptances, stamp{t, float64(len(ids))})
	for _, id := range ids {
		if e, ok := r.alerts[id]; ok {
			e.accepted = true
		}
	}
}

// received records that a webhook payload received at t contains id.
func (r *e2eRecorder) received(id string, t time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.alerts[id]
	if !ok || e.received {
		return
	}
	e.received = true
	r.samples = append(r.samples, t.Sub(e.firstPost))
	r.arrivals = append(r.arrivals, arrival{t, t.Sub(e.firstPost)})
}

// carry takes the alerts of an earlier recorder (a warm-up) with when they
// were first posted and whether they were notified: a re-send of one
// notified already waits for nothing, one not yet notified is waited for
// and measured from its first post.
func (r *e2eRecorder) carry(from *e2eRecorder) {
	from.mu.Lock()
	defer from.mu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, e := range from.alerts {
		r.alerts[id] = &e2eEntry{firstPost: e.firstPost, received: e.received}
	}
}

// notified records that a notification of group came at t.
func (r *e2eRecorder) notified(group string, t time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.groups[group] = append(r.groups[group], t)
}

// spacing is, for each two notifications of a group that follow each
// other within 1.5 intervals (consecutive flushes, not a quiet stretch),
// how much further apart they came than interval: a group's flushes on
// Alertmanager's grid come interval apart, each later one shows how late
// it left relative to the one before.
func (r *e2eRecorder) spacing(interval time.Duration) []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []time.Duration
	for _, ts := range r.groups {
		for i := 1; i < len(ts); i++ {
			if d := ts[i].Sub(ts[i-1]); d < interval*3/2 {
				out = append(out, d-interval)
			}
		}
	}
	return out
}

// lastArrival is when the last alert was first notified (zero if none).
func (r *e2eRecorder) lastArrival() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	var last time.Time
	for _, a := range r.arrivals {
		if a.at.After(last) {
			last = a.at
		}
	}
	return last
}

// progress is how many alerts were accepted (every time) and how many
// distinct ones notified so far.
func (r *e2eRecorder) progress() (accepted, notified int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range r.acceptances {
		accepted += int(a.n)
	}
	return accepted, len(r.arrivals)
}

// seen reports whether id reached the sink.
func (r *e2eRecorder) seen(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.alerts[id]
	return ok && e.received
}

// counts returns how many alerts were accepted and how many of those
// reached the sink.
func (r *e2eRecorder) counts() (expected, received int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.alerts {
		if e.accepted {
			expected++
			if e.received {
				received++
			}
		}
	}
	return expected, received
}

func (r *e2eRecorder) latencies() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.samples)
}
