package nflog

import (
	"regexp"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
)

func TestDecide(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const repeat = 4 * time.Hour
	entry := func(firing, resolved []string, at time.Time) *Entry {
		return &Entry{Firing: firing, Resolved: resolved, Timestamp: at, FlushSeq: 1}
	}
	tests := []struct {
		name         string
		entry        *Entry
		firing       []string
		resolved     []string
		sendResolved bool
		now          time.Time
		want         Reason
	}{
		{name: "no entry, firing: first notification", firing: []string{"a"}, now: t0, want: ReasonFirstNotification},
		{name: "no entry, firing and resolved: first notification", firing: []string{"a"}, resolved: []string{"b"}, now: t0, want: ReasonFirstNotification},
		{name: "no entry, only resolved: nothing", resolved: []string{"a"}, sendResolved: true, now: t0, want: ReasonNone},
		{name: "no entry, empty group: nothing", now: t0, want: ReasonNone},

		{name: "new alert fires: new alerts", entry: entry([]string{"a"}, nil, t0), firing: []string{"a", "b"}, now: t0.Add(time.Minute), want: ReasonNewAlerts},
		{name: "other alert fires instead: new alerts", entry: entry([]string{"a"}, nil, t0), firing: []string{"b"}, resolved: []string{"a"}, now: t0.Add(time.Minute), want: ReasonNewAlerts},
		{name: "last entry closed (nothing firing), fires again: first notification", entry: entry(nil, []string{"a"}, t0), firing: []string{"a"}, now: t0.Add(time.Minute), want: ReasonFirstNotification},
		{name: "resolved alert fires again: new alerts", entry: entry([]string{"b"}, []string{"a"}, t0), firing: []string{"a", "b"}, now: t0.Add(time.Minute), want: ReasonNewAlerts},

		{name: "all resolved with send_resolved: all resolved", entry: entry([]string{"a"}, nil, t0), resolved: []string{"a"}, sendResolved: true, now: t0.Add(time.Minute), want: ReasonAllResolved},
		{name: "all resolved without send_resolved: all resolved (clears the log)", entry: entry([]string{"a"}, nil, t0), resolved: []string{"a"}, now: t0.Add(time.Minute), want: ReasonAllResolved},
		{name: "all resolved, last entry had nothing firing: nothing", entry: entry(nil, []string{"a"}, t0), resolved: []string{"a", "b"}, sendResolved: true, now: t0.Add(time.Minute), want: ReasonNone},
		{name: "empty group after closed entry: nothing", entry: entry(nil, nil, t0), now: t0.Add(5 * time.Hour), want: ReasonNone},

		{name: "some resolved with send_resolved: some alerts resolved", entry: entry([]string{"a", "b"}, nil, t0), firing: []string{"a"}, resolved: []string{"b"}, sendResolved: true, now: t0.Add(time.Minute), want: ReasonNewResolved},
		{name: "some resolved without send_resolved: nothing", entry: entry([]string{"a", "b"}, nil, t0), firing: []string{"a"}, resolved: []string{"b"}, now: t0.Add(time.Minute), want: ReasonNone},
		{name: "resolved already notified: nothing", entry: entry([]string{"a"}, []string{"b"}, t0), firing: []string{"a"}, resolved: []string{"b"}, sendResolved: true, now: t0.Add(time.Minute), want: ReasonNone},
		{name: "resolved alert left the group: nothing", entry: entry([]string{"a"}, []string{"b"}, t0), firing: []string{"a"}, sendResolved: true, now: t0.Add(time.Minute), want: ReasonNone},
		{name: "firing alert left the group, rest unchanged: nothing", entry: entry([]string{"a", "b"}, nil, t0), firing: []string{"a"}, sendResolved: true, now: t0.Add(time.Minute), want: ReasonNone},

		{name: "unchanged before repeat interval: nothing", entry: entry([]string{"a"}, nil, t0), firing: []string{"a"}, now: t0.Add(repeat - time.Second), want: ReasonNone},
		{name: "unchanged at exactly repeat interval: nothing", entry: entry([]string{"a"}, nil, t0), firing: []string{"a"}, now: t0.Add(repeat), want: ReasonNone},
		{name: "unchanged after repeat interval: repeat", entry: entry([]string{"a"}, nil, t0), firing: []string{"a"}, now: t0.Add(repeat + time.Nanosecond), want: ReasonRepeatIntervalElapsed},
		{name: "resolved unchanged after repeat interval: repeat", entry: entry([]string{"a"}, []string{"b"}, t0), firing: []string{"a"}, resolved: []string{"b"}, sendResolved: true, now: t0.Add(repeat + time.Minute), want: ReasonRepeatIntervalElapsed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			send, got := Decide(tt.entry, NewSet(tt.firing...), NewSet(tt.resolved...), tt.sendResolved, repeat, tt.now)
			if got != tt.want {
				t.Fatalf("Decide = %v, want %v", got, tt.want)
			}
			if send != (tt.want != ReasonNone) {
				t.Fatalf("send = %v for reason %v", send, got)
			}
		})
	}
}

func TestReasonStrings(t *testing.T) {
	want := map[Reason][2]string{
		ReasonNone:                  {"none", "none"},
		ReasonFirstNotification:     {"first notification", "first_notification"},
		ReasonNewAlerts:             {"new alerts added", "new_alerts_added"},
		ReasonNewResolved:           {"some alerts resolved", "some_alerts_resolved"},
		ReasonAllResolved:           {"all alerts resolved", "all_alerts_resolved"},
		ReasonRepeatIntervalElapsed: {"repeat interval elapsed", "repeat_interval_elapsed"},
		Reason(-1):                  {"unknown", "unknown"},
	}
	for r, w := range want {
		if r.String() != w[0] || r.Label() != w[1] {
			t.Errorf("reason %d: got %q/%q, want %q/%q", int(r), r.String(), r.Label(), w[0], w[1])
		}
	}
}

func TestPartition(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	firingA := alert.Alert{Labels: model.LabelSet{"alertname": "A"}, StartsAt: t0.Add(-time.Hour), EndsAt: t0.Add(time.Minute)}
	resolvedB := alert.Alert{Labels: model.LabelSet{"alertname": "B"}, StartsAt: t0.Add(-time.Hour), EndsAt: t0}
	noEndC := alert.Alert{Labels: model.LabelSet{"alertname": "C"}, StartsAt: t0.Add(-time.Hour)}

	firing, resolved := Partition([]alert.Alert{firingA, resolvedB, noEndC}, t0)
	fa, fb, fc := firingA.Fingerprint().String(), resolvedB.Fingerprint().String(), noEndC.Fingerprint().String()
	if len(firing) != 2 || len(resolved) != 1 {
		t.Fatalf("firing %v resolved %v", firing, resolved)
	}
	if _, ok := firing[fa]; !ok {
		t.Errorf("A not firing at t0")
	}
	if _, ok := firing[fc]; !ok {
		t.Errorf("C (no end) not firing")
	}
	if _, ok := resolved[fb]; !ok {
		t.Errorf("B (ends at t0) not resolved at t0")
	}
	// Judged at the flush time: a minute later A is resolved too.
	firing, resolved = Partition([]alert.Alert{firingA, resolvedB}, t0.Add(time.Minute))
	if len(firing) != 0 || len(resolved) != 2 {
		t.Fatalf("at t0+1m: firing %v resolved %v", firing, resolved)
	}
}

func TestNewEntry(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	n := &contract.Notification{
		GroupKey:    `{}:{alertname="A"}`,
		Integration: contract.Integration{Receiver: "team", Type: "webhook", Index: 1},
		FlushSeq:    7,
		FlushedAt:   t0,
	}
	e := NewEntry(n, NewSet("c", "a", "b"), NewSet())
	if e.GroupKey != n.GroupKey || e.Integration != n.Integration || e.FlushSeq != 7 || !e.Timestamp.Equal(t0) {
		t.Fatalf("entry %+v", e)
	}
	if got := e.Firing; len(got) != 3 || got[0] != "a" || got[1] != "b" || got[2] != "c" {
		t.Fatalf("firing not sorted: %v", got)
	}
	if e.Resolved == nil || len(e.Resolved) != 0 {
		t.Fatalf("resolved: %#v (want empty, not nil, for a stable stored form)", e.Resolved)
	}
}

func TestCovers(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	e := &Entry{FlushSeq: 5, Timestamp: t0}
	tests := []struct {
		name string
		e    *Entry
		seq  uint64
		at   time.Time
		want bool
	}{
		{"no entry", nil, 1, t0, false},
		{"redelivery of the same flush", e, 5, t0, true},
		{"older flush", e, 4, t0.Add(-time.Minute), true},
		{"next flush", e, 6, t0.Add(time.Minute), false},
		{"group recreated: lower seq but later flush", e, 1, t0.Add(time.Hour), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.e.Covers(tt.seq, tt.at); got != tt.want {
				t.Fatalf("Covers(%d, %v) = %v, want %v", tt.seq, tt.at, got, tt.want)
			}
		})
	}
}

func TestKey(t *testing.T) {
	valid := regexp.MustCompile(`^[-/_=.a-zA-Z0-9]+$`)
	in := contract.Integration{Receiver: "team ops/ü", Type: "webhook", Index: 0}
	gk := `{}/{team="db"}:{alertname="Foo bar*"}`
	k := Key(gk, in)
	if !valid.MatchString(k) || len(k) != 32 {
		t.Fatalf("key %q is not a valid 32-char KV key", k)
	}
	if Key(gk, in) != k {
		t.Fatal("key is not deterministic")
	}
	others := []struct {
		gk string
		in contract.Integration
	}{
		{gk + "x", in},
		{gk, contract.Integration{Receiver: in.Receiver, Type: "slack", Index: 0}},
		{gk, contract.Integration{Receiver: in.Receiver, Type: "webhook", Index: 1}},
		{gk, contract.Integration{Receiver: "other", Type: "webhook", Index: 0}},
		// Length prefixes keep part boundaries apart.
		{"ab", contract.Integration{Receiver: "c", Type: "webhook"}},
		{"a", contract.Integration{Receiver: "bc", Type: "webhook"}},
	}
	seen := map[string]bool{k: true}
	for _, o := range others {
		ok := Key(o.gk, o.in)
		if seen[ok] {
			t.Errorf("key collision for %q %+v", o.gk, o.in)
		}
		seen[ok] = true
	}
}
