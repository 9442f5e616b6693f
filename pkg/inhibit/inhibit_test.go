package inhibit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
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
	"github.com/klaxon-alerts/klaxon/pkg/natsembed/natstest"
	"github.com/klaxon-alerts/klaxon/pkg/streams"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func cfg(t *testing.T, rules string) *config.Config {
	t.Helper()
	c, err := config.Parse([]byte("route:\n  receiver: r\nreceivers:\n  - name: r\ninhibit_rules:\n"+rules), "")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// firing is an alert firing at now; "labels" is a=b,c=d.
func firing(labels string) *alert.Alert {
	ls := model.LabelSet{}
	for _, kv := range strings.Split(labels, ",") {
		k, v, _ := strings.Cut(kv, "=")
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	return &alert.Alert{Labels: ls, StartsAt: now.Add(-time.Hour), EndsAt: now.Add(time.Hour), UpdatedAt: now}
}

func resolved(labels string) *alert.Alert {
	a := firing(labels)
	a.EndsAt = now.Add(-time.Minute)
	return a
}

func fp(a *alert.Alert) string { return a.Fingerprint().String() }

func TestInhibitedBy(t *testing.T) {
	const critInhibitsWarn = `
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [cluster]
`
	crit := firing("alertname=NodeDown,severity=critical,cluster=eu")
	critOther := firing("alertname=NodeDown,severity=critical,cluster=us")
	critNoCluster := firing("alertname=NodeDown,severity=critical")
	critResolved := resolved("alertname=Old,severity=critical,cluster=eu")
	for _, tc := range []struct {
		name    string
		rules   string
		sources []*alert.Alert
		target  *alert.Alert
		want    []*alert.Alert
	}{
		{"source with equal label inhibits", critInhibitsWarn, []*alert.Alert{crit, critOther}, firing("alertname=Disk,severity=warning,cluster=eu"), []*alert.Alert{crit}},
		{"different equal label value does not", critInhibitsWarn, []*alert.Alert{critOther}, firing("alertname=Disk,severity=warning,cluster=eu"), nil},
		{"target not matching target matchers is not inhibited", critInhibitsWarn, []*alert.Alert{crit}, firing("alertname=Disk,severity=info,cluster=eu"), nil},
		{"equal label missing on both sides counts as equal", critInhibitsWarn, []*alert.Alert{critNoCluster, crit}, firing("alertname=Disk,severity=warning"), []*alert.Alert{critNoCluster}},
		{"missing on one side only is not equal", critInhibitsWarn, []*alert.Alert{critNoCluster}, firing("alertname=Disk,severity=warning,cluster=eu"), nil},
		{"a resolved source does not inhibit", critInhibitsWarn, []*alert.Alert{critResolved}, firing("alertname=Disk,severity=warning,cluster=eu"), nil},
		{"no equal: any firing source inhibits", `
  - source_matchers: [alertname="Maintenance"]
    target_matchers: [severity=~"warning|critical"]
`, []*alert.Alert{firing("alertname=Maintenance")}, firing("alertname=Disk,severity=critical,cluster=eu"), []*alert.Alert{firing("alertname=Maintenance")}},
		{"deprecated source_match/target_match", `
  - source_match: {severity: critical}
    target_match_re: {severity: "warn.*"}
    equal: [cluster]
`, []*alert.Alert{crit}, firing("alertname=Disk,severity=warning,cluster=eu"), []*alert.Alert{crit}},
		{"several sources are all listed", critInhibitsWarn, []*alert.Alert{crit, firing("alertname=Net,severity=critical,cluster=eu")}, firing("alertname=Disk,severity=warning,cluster=eu"),
			[]*alert.Alert{crit, firing("alertname=Net,severity=critical,cluster=eu")}},
		// The self-inhibition guard: with a rule whose source and target
		// both match the same alerts, an alert matching both sides is not
		// inhibited by another alert that matches both sides...
		{"guard: two-sided alerts do not inhibit each other", `
  - source_matchers: [team="db"]
    target_matchers: [team="db"]
    equal: [cluster]
`, []*alert.Alert{firing("alertname=A,team=db,cluster=eu"), firing("alertname=B,team=db,cluster=eu")}, firing("alertname=A,team=db,cluster=eu"), nil},
		// ...nor by itself...
		{"guard: an alert does not inhibit itself", `
  - source_matchers: [alertname="A"]
    target_matchers: [cluster="eu"]
`, []*alert.Alert{firing("alertname=A,cluster=eu")}, firing("alertname=A,cluster=eu"), nil},
		// ...but a source that matches only the source side still does.
		{"guard: a one-sided source still inhibits a two-sided target", `
  - source_matchers: [severity=~"critical|warning"]
    target_matchers: [severity="warning"]
    equal: [cluster]
`, []*alert.Alert{crit}, firing("alertname=Disk,severity=warning,cluster=eu"), []*alert.Alert{crit}},
		{"no rules", "  []\n", []*alert.Alert{crit}, firing("alertname=Disk,severity=warning,cluster=eu"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg(t, tc.rules)
			v := inhibit.NewView(inhibit.Rules(c), append(tc.sources, tc.target))
			got := v.InhibitedBy(tc.target.Labels, now)
			var want []string
			for _, a := range tc.want {
				want = append(want, fp(a))
			}
			if fmt.Sprint(got) != fmt.Sprint(sorted(want)) {
				t.Fatalf("InhibitedBy = %v, want %v", got, sorted(want))
			}
		})
	}
}

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }

// A source that resolves later stops inhibiting without a new view: the
// status is judged at lookup time.
func TestSourceResolvesOverTime(t *testing.T) {
	c := cfg(t, "  - source_matchers: [severity=critical]\n    target_matchers: [severity=warning]\n")
	src := firing("alertname=A,severity=critical")
	v := inhibit.NewView(inhibit.Rules(c), []*alert.Alert{src})
	target := model.LabelSet{"alertname": "B", "severity": "warning"}
	if len(v.InhibitedBy(target, now)) != 1 {
		t.Fatal("not inhibited while the source fires")
	}
	if got := v.InhibitedBy(target, src.EndsAt); len(got) != 0 {
		t.Fatalf("inhibited at the source's end: %v", got)
	}
}

// The Inhibitor reads its sources from the watched klaxon-alerts bucket (the
// dedup stage's record decodes as an alert), and follows changes.
func TestInhibitorFollowsTheAlertsBucket(t *testing.T) {
	_, js := natstest.Start(t)
	ctx := t.Context()
	if err := streams.Provision(ctx, js, streams.Options{}); err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, contract.BucketAlerts)
	if err != nil {
		t.Fatal(err)
	}
	c := cfg(t, "  - source_matchers: [severity=critical]\n    target_matchers: [severity=warning]\n    equal: [cluster]\n")
	alerts := kvcache.NewAlerts(js, nil, nil)
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = alerts.Run(rctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	ih := inhibit.New(alerts, func() *config.Config { return c })

	put := func(a *alert.Alert) {
		// Stored as dedup stores it: the alert plus its own fields.
		rec := struct {
			alert.Alert
			Emitted string `json:"emitted"`
			Outbox  []any  `json:"outbox"`
		}{*a, "firing", nil}
		b, _ := json.Marshal(rec)
		if _, err := kv.Put(ctx, fp(a), b); err != nil {
			t.Fatal(err)
		}
	}
	target := model.LabelSet{"alertname": "Disk", "severity": "warning", "cluster": "eu"}
	src := firing("alertname=NodeDown,severity=critical,cluster=eu")
	put(src)
	waitFor(t, "the source inhibits", func() bool {
		v, err := ih.View(ctx)
		return err == nil && len(v.InhibitedBy(target, now)) == 1
	})
	src.EndsAt = now.Add(-time.Second)
	put(src)
	waitFor(t, "the resolved source stops inhibiting", func() bool {
		v, err := ih.View(ctx)
		return err == nil && len(v.InhibitedBy(target, now)) == 0
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}
