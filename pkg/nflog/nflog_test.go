package nflog

import (
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
)

func TestDecide(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const repeat = 4 * time.Hour
	entry := func(firing, resolved []string, at time.Time) *State {
		return &State{Firing: firing, Resolved: resolved, Timestamp: at}
	}
	tests := []struct {
		name         string
		entry        *State
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
