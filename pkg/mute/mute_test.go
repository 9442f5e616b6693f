package mute_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/inhibit"
	"github.com/klaxon-alerts/klaxon/pkg/kvcache"
	"github.com/klaxon-alerts/klaxon/pkg/mute"
	"github.com/klaxon-alerts/klaxon/pkg/natsembed/natstest"
	"github.com/klaxon-alerts/klaxon/pkg/silence"
	"github.com/klaxon-alerts/klaxon/pkg/silencestore"
	"github.com/klaxon-alerts/klaxon/pkg/streams"
)

const intervalsYAML = `
time_intervals:
  - name: business-hours
    time_intervals:
      - weekdays: ['monday:friday']
        times: [{start_time: '09:00', end_time: '17:00'}]
        location: Europe/Berlin
  - name: weekend-new-york
    time_intervals:
      - weekdays: ['saturday', 'sunday']
        location: America/New_York
  - name: weekend-utc
    time_intervals:
      - weekdays: ['saturday', 'sunday']
  - name: last-day-of-month
    time_intervals:
      - days_of_month: ['-1']
`

func loadConfig(t *testing.T, extra string) *config.Config {
	t.Helper()
	c, err := config.Parse([]byte(`route:
  receiver: r
receivers:
  - name: r
  - name: opt-in
    send_resolved_silenced: true
`+extra), "")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// Time intervals at their boundaries and in their time zones.
func TestTimeMutedBy(t *testing.T) {
	in := loadConfig(t, intervalsYAML).Intervals()
	for _, tc := range []struct {
		name         string
		active, mute []string
		at           string
		want         []string
	}{
		// Europe/Berlin is UTC+1 in January, UTC+2 in July.
		{"active: 09:00 Berlin is inside (start included)", []string{"business-hours"}, nil, "2026-01-05T08:00:00Z", nil},
		{"active: 08:59 Berlin is outside", []string{"business-hours"}, nil, "2026-01-05T07:59:59Z", []string{"business-hours"}},
		{"active: 16:59 Berlin is inside", []string{"business-hours"}, nil, "2026-01-05T15:59:59Z", nil},
		{"active: 17:00 Berlin is outside (end excluded)", []string{"business-hours"}, nil, "2026-01-05T16:00:00Z", []string{"business-hours"}},
		{"active: summer time moves the window an hour", []string{"business-hours"}, nil, "2026-07-06T07:00:00Z", nil},
		{"active: 08:00 UTC in summer is 10:00 Berlin", []string{"business-hours"}, nil, "2026-07-06T08:00:00Z", nil},
		{"active: 06:59 UTC in summer is 08:59 Berlin", []string{"business-hours"}, nil, "2026-07-06T06:59:00Z", []string{"business-hours"}},
		{"mute: Saturday 00:00 UTC", nil, []string{"weekend-utc"}, "2026-01-10T00:00:00Z", []string{"weekend-utc"}},
		{"mute: Friday 23:59:59 UTC", nil, []string{"weekend-utc"}, "2026-01-09T23:59:59Z", nil},
		{"mute: Saturday 02:00 UTC is still Friday in New York", nil, []string{"weekend-new-york"}, "2026-01-10T02:00:00Z", nil},
		{"mute: Saturday 05:00 UTC is Saturday in New York", nil, []string{"weekend-new-york"}, "2026-01-10T05:00:00Z", []string{"weekend-new-york"}},
		{"mute: last day of the month", nil, []string{"last-day-of-month"}, "2026-02-28T12:00:00Z", []string{"last-day-of-month"}},
		{"mute: not the last day", nil, []string{"last-day-of-month"}, "2026-02-27T23:59:59Z", nil},
		{"both: only the mute interval in force is named", []string{"business-hours"}, []string{"weekend-utc", "last-day-of-month"}, "2026-01-31T12:00:00Z",
			[]string{"business-hours", "weekend-utc", "last-day-of-month"}},
		{"no intervals: never muted", nil, nil, "2026-01-10T00:00:00Z", nil},
	} {
		got, err := mute.TimeMutedBy(in, tc.active, tc.mute, at(tc.at))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: muted by %v, want %v", tc.name, got, tc.want)
		}
	}
	if _, err := mute.TimeMutedBy(in, nil, []string{"nope"}, time.Now()); err == nil {
		t.Error("unknown interval name: no error")
	}
}

var now = at("2026-01-05T12:00:00Z")

func mk(labels string, resolved bool) alert.Alert {
	ls := model.LabelSet{}
	for _, kv := range strings.Split(labels, ",") {
		k, v, _ := strings.Cut(kv, "=")
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	a := alert.Alert{Labels: ls, StartsAt: now.Add(-time.Hour), EndsAt: now.Add(time.Hour)}
	if resolved {
		a.EndsAt = now.Add(-time.Minute)
	}
	return a
}

func TestDecide(t *testing.T) {
	byLabel := func(label string, ids ...string) func(model.LabelSet) []string {
		return func(ls model.LabelSet) []string {
			if _, ok := ls[model.LabelName(label)]; ok {
				return ids
			}
			return nil
		}
	}
	silenced := byLabel("silenced", "sil-1")
	inhibited := byLabel("inhibited", "fp-src")
	for _, tc := range []struct {
		name    string
		alerts  []alert.Alert
		mutedBy []string
		optIn   bool
		want    string // reason per alert, "-" for notified
	}{
		{"nothing applies", []alert.Alert{mk("a=1", false)}, nil, false, "-"},
		{"silenced", []alert.Alert{mk("a=1", false), mk("a=2,silenced=y", false)}, nil, false, "- silence"},
		{"inhibited", []alert.Alert{mk("a=1,inhibited=y", false)}, nil, false, "inhibition"},
		{"inhibition comes before silences", []alert.Alert{mk("a=1,inhibited=y,silenced=y", false)}, nil, false, "inhibition"},
		{"time interval mutes the whole group, after inhibition", []alert.Alert{mk("a=1", false), mk("a=2,inhibited=y", false), mk("a=3,silenced=y", false)},
			[]string{"weekend"}, false, "time_interval inhibition time_interval"},
		{"a resolved silenced alert stays muted without the opt-in", []alert.Alert{mk("a=1,silenced=y", true)}, nil, false, "silence"},
		{"with the opt-in a resolved silenced alert is notified", []alert.Alert{mk("a=1,silenced=y", true), mk("a=2,silenced=y", false)}, nil, true, "- silence"},
		{"the opt-in does not lift inhibition", []alert.Alert{mk("a=1,silenced=y,inhibited=y", true)}, nil, true, "inhibition"},
		{"the opt-in does not lift time muting", []alert.Alert{mk("a=1,silenced=y", true)}, []string{"weekend"}, true, "time_interval"},
	} {
		d, err := mute.Decide(tc.alerts, mute.Input{
			Now: now, MutedBy: tc.mutedBy, InhibitedBy: inhibited,
			SilencedBy:           func(ls model.LabelSet) ([]string, error) { return silenced(ls), nil },
			SendResolvedSilenced: tc.optIn,
		})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for i := range tc.alerts {
			r := d.Reason[i]
			if r == "" {
				r = "-"
			}
			if d.Muted[i] != (r != "-") {
				t.Errorf("%s: Muted[%d] = %v with reason %q", tc.name, i, d.Muted[i], r)
			}
			got = append(got, r)
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("%s: reasons %v, want %s", tc.name, got, tc.want)
		}
		// What applied is recorded whatever decided the alert's fate.
		for i, a := range tc.alerts {
			if _, ok := a.Labels["silenced"]; ok && len(d.SilencedBy[i]) != 1 {
				t.Errorf("%s: SilencedBy[%d] = %v", tc.name, i, d.SilencedBy[i])
			}
		}
	}
}

// The Muter against real silences and alerts in JetStream: a flush with a
// silenced, an inhibited and a plain alert mutes the first two, publishes one
// Suppressed event per reason, counts them, and the evaluator reports the
// same status to the API.
func TestMuterRecordsDecisions(t *testing.T) {
	_, js := natstest.Start(t)
	ctx := t.Context()
	if err := streams.Provision(ctx, js, streams.Options{}); err != nil {
		t.Fatal(err)
	}
	cfg := loadConfig(t, intervalsYAML+`
inhibit_rules:
  - source_matchers: [severity=critical]
    target_matchers: [severity=warning]
    equal: [cluster]
`)
	current := func() *config.Config { return cfg }
	clock := func() time.Time { return now }
	sils, err := silencestore.New(silencestore.Options{JS: js, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	alerts := kvcache.NewAlerts(js, nil, nil)
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = sils.Run(rctx) })
	wg.Go(func() { _ = alerts.Run(rctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })

	silID, err := sils.Set(ctx, silence.Silence{
		Matchers: []silence.Matcher{{Name: "alertname", Value: "Quiet", IsEqual: true}},
		StartsAt: now, EndsAt: now.Add(time.Hour), CreatedBy: "t", Comment: "c",
	}, "t")
	if err != nil {
		t.Fatal(err)
	}
	src := mk("alertname=NodeDown,severity=critical,cluster=eu", false)
	kv, _ := js.KeyValue(ctx, contract.BucketAlerts)
	b, _ := json.Marshal(src)
	if _, err := kv.Put(ctx, src.Fingerprint().String(), b); err != nil {
		t.Fatal(err)
	}

	rec := &recorder{}
	m, err := mute.New(mute.Options{Config: current, Silences: sils, Inhibitor: inhibit.New(alerts, current), Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	quiet := mk("alertname=Quiet,cluster=eu", false)
	warn := mk("alertname=Disk,severity=warning,cluster=eu", false)
	plain := mk("alertname=Loud,cluster=eu", false)
	route := contract.Route{ID: "{}", Receiver: "r", GroupKey: "{}:{}"}

	var muted []string
	calls := 0 // each call records its decisions
	deadline := time.Now().Add(10 * time.Second)
	for {
		calls++
		muted, err = m.Mute(ctx, route, []alert.Alert{quiet, warn, plain}, now)
		if err != nil {
			t.Fatal(err)
		}
		if muted[1] != "" || time.Now().After(deadline) { // the source reached the watched copy
			break
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
	if fmt.Sprint(muted) != "[silence inhibition ]" {
		t.Fatalf("muted for %q, want [silence inhibition \"\"]", muted)
	}

	events := map[string]contract.Suppressed{}
	for _, ev := range rec.events {
		events[ev.Reason] = ev
	}
	if sil := events[contract.ReasonSilence]; len(sil.Alerts) != 1 || sil.Alerts[0].SilencedBy[0] != silID || sil.Receiver != "r" {
		t.Errorf("silence event = %+v", sil)
	}
	if inh := events[contract.ReasonInhibition]; len(inh.Alerts) != 1 || inh.Alerts[0].InhibitedBy[0] != src.Fingerprint().String() {
		t.Errorf("inhibition event = %+v", inh)
	}
	if len(events) != 2 {
		t.Errorf("events for %d reasons, want 2: %v", len(events), events)
	}
	silenced := 0
	for _, ev := range rec.events {
		if ev.Reason == contract.ReasonSilence {
			silenced++
		}
	}
	if silenced != calls {
		t.Errorf("%d silence events recorded in %d flushes, want one per flush", silenced, calls)
	}

	// The API's view of the same alerts.
	ev, err := m.Evaluator(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := ev.Status(ctx, quiet.Labels, nil)
	if st.State() != "suppressed" || fmt.Sprint(st.SilencedBy) != "["+silID+"]" {
		t.Errorf("status of the silenced alert = %+v", st)
	}
	st, _ = ev.Status(ctx, plain.Labels, []contract.Route{{MuteTimeIntervals: []string{"business-hours"}}})
	if st.State() != "active" || fmt.Sprint(st.MutedBy) != "[business-hours]" {
		t.Errorf("status of the plain alert on a muted route = %+v", st)
	}

	// A time-muted route mutes everything not inhibited and says by what.
	route.ActiveTimeIntervals = []string{"weekend-utc"}
	muted, err = m.Mute(ctx, route, []alert.Alert{plain}, now)
	if err != nil || muted[0] != contract.ReasonTimeInterval {
		t.Fatalf("time-muted flush: %q %v", muted, err)
	}
}

// recorder keeps the events the muter records.
type recorder struct{ events []contract.Suppressed }

func (r *recorder) Record(_ context.Context, events []contract.Suppressed) error {
	r.events = append(r.events, events...)
	return nil
}

type noSilences struct{}

func (noSilences) Mutes(context.Context, model.LabelSet, time.Time) ([]string, error) {
	return nil, nil
}
