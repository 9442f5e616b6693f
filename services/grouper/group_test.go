package grouper

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

func testRoute() contract.Route {
	return contract.Route{
		ID: "{}", Receiver: "r", GroupKey: `{}:{alertname="A"}`,
		GroupWait: model.Duration(2 * time.Second), GroupInterval: model.Duration(5 * time.Second),
		RepeatInterval: model.Duration(20 * time.Second),
	}
}

func firing(name string, start, updated time.Time) alert.Alert {
	return alert.Alert{
		Labels: model.LabelSet{"alertname": "A", "n": model.LabelValue(name)}, StartsAt: start,
		EndsAt: updated.Add(time.Hour), UpdatedAt: updated,
	}
}

func resolved(a alert.Alert, end, updated time.Time) alert.Alert {
	a.EndsAt, a.UpdatedAt = end, updated
	return a
}

// flushAt runs one due tick at t: snapshot, then AfterFlush.
func flushAt(t testing.TB, g *Group, tm time.Time) Flush {
	t.Helper()
	if !g.Due(tm) {
		t.Fatalf("flush at %v: not due (next %v)", tm.Sub(t0), g.NextFlush.Sub(t0))
	}
	f := g.Snapshot(tm)
	f.Notified = g.Notify(f.Alerts, []bool{true}, tm)
	g.AfterFlush(f, tm)
	return f
}

func wantNext(t *testing.T, g *Group, want time.Time) {
	t.Helper()
	if !g.NextFlush.Equal(want) {
		t.Fatalf("next flush at %v, want %v", g.NextFlush.Sub(t0), want.Sub(t0))
	}
}

func TestFirstFlushAfterGroupWait(t *testing.T) {
	g := NewGroup(testRoute(), at(0))
	g.Add("a", firing("a", at(0), at(0)), testRoute(), at(0))
	wantNext(t, g, at(2))
	// A second alert within group_wait does not move the first flush.
	g.Add("b", firing("b", at(1), at(1)), testRoute(), at(1))
	wantNext(t, g, at(2))
	if g.Due(at(1.5)) {
		t.Fatal("due before group_wait")
	}
	f := flushAt(t, g, at(2))
	if len(f.Alerts) != 2 || f.Seq != 1 {
		t.Fatalf("flush = %d alerts, seq %d", len(f.Alerts), f.Seq)
	}
}

func TestOldAlertFlushesImmediately(t *testing.T) {
	g := NewGroup(testRoute(), at(10))
	g.Add("a", firing("a", at(0), at(10)), testRoute(), at(10))
	wantNext(t, g, at(10))
}

func TestLaterChangesFlushOnGroupIntervalGrid(t *testing.T) {
	g := NewGroup(testRoute(), at(0))
	g.Add("a", firing("a", at(0), at(0)), testRoute(), at(0))
	flushAt(t, g, at(2))
	// Nothing changed: next is the repeat, at the first grid point after
	// 2+20=22, i.e. 27 (grid 2, 7, 12, ...).
	wantNext(t, g, at(27))
	// A new alert at 8 goes out at the next grid point, 12.
	g.Add("b", firing("b", at(8), at(8)), testRoute(), at(8))
	wantNext(t, g, at(12))
	f := flushAt(t, g, at(12))
	if len(f.Notified) != 1 || len(f.Alerts) != 2 {
		t.Fatalf("flush at 12: notified=%v alerts=%d", f.Notified, len(f.Alerts))
	}
	// The repeat interval now runs from 12: first grid point after 32 is 37.
	wantNext(t, g, at(37))
}

func TestRepeatRoundsUpToGrid(t *testing.T) {
	r := testRoute()
	r.GroupWait, r.GroupInterval, r.RepeatInterval = 0, model.Duration(time.Second), model.Duration(3*time.Second)
	g := NewGroup(r, at(0))
	g.Add("a", firing("a", at(0), at(0)), r, at(0))
	flushAt(t, g, at(0))
	// As Alertmanager: the repeat check at 3 finds exactly 3s elapsed, not
	// more; the repeat goes out at 4.
	wantNext(t, g, at(4))
	flushAt(t, g, at(4))
	wantNext(t, g, at(8))
}

func TestResolvedAlertsLeaveAfterFlushAndEmptyGroupEnds(t *testing.T) {
	g := NewGroup(testRoute(), at(0))
	a := firing("a", at(0), at(0))
	g.Add("a", a, testRoute(), at(0))
	flushAt(t, g, at(2))
	g.Add("a", resolved(a, at(3), at(3)), testRoute(), at(3))
	wantNext(t, g, at(7))
	f := g.Snapshot(at(7))
	if keep := g.AfterFlush(f, at(7)); keep {
		t.Fatalf("group with only a notified resolved alert kept: %+v", g.Alerts)
	}
}

func TestAlertChangedDuringFlushStays(t *testing.T) {
	g := NewGroup(testRoute(), at(0))
	a := firing("a", at(0), at(0))
	g.Add("a", a, testRoute(), at(0))
	flushAt(t, g, at(2))
	g.Add("a", resolved(a, at(6), at(6)), testRoute(), at(6))
	f := g.Snapshot(at(7))
	// The alert fires again after the snapshot was published.
	g.Add("a", firing("a", at(0), at(7.5)), testRoute(), at(7.5))
	if !g.AfterFlush(f, at(7.5)) {
		t.Fatal("group dropped")
	}
	if _, ok := g.Alerts["a"]; !ok || !g.Dirty {
		t.Fatalf("refired alert lost or not dirty: %+v dirty=%v", g.Alerts, g.Dirty)
	}
	wantNext(t, g, at(12))
}

func TestRedeliveredEventsChangeNothing(t *testing.T) {
	g := NewGroup(testRoute(), at(0))
	a := firing("a", at(0), at(1))
	if !g.Add("a", a, testRoute(), at(1)) {
		t.Fatal("first add refused")
	}
	if g.Add("a", a, testRoute(), at(1)) {
		t.Fatal("same event applied twice")
	}
	if g.Add("a", firing("a", at(0), at(0.5)), testRoute(), at(1)) {
		t.Fatal("older event applied over newer")
	}
	f := flushAt(t, g, at(2))
	before := *g
	g.AfterFlush(f, at(2.1))
	if g.FlushSeq != before.FlushSeq || !g.NextFlush.Equal(before.NextFlush) {
		t.Fatal("second AfterFlush of the same flush changed the group")
	}
}

// An alert that expires reaches the group as a resolved change from dedup,
// with a newer UpdatedAt, and goes out at the next grid point.
func TestExpiredAlertFlushesOnGrid(t *testing.T) {
	g := NewGroup(testRoute(), at(0))
	a := firing("a", at(0), at(0))
	a.EndsAt = at(9)
	g.Add("a", a, testRoute(), at(0))
	flushAt(t, g, at(2))
	expired := a
	expired.UpdatedAt = at(9)
	if !g.Add("a", expired, testRoute(), at(9)) {
		t.Fatal("expiry event ignored")
	}
	wantNext(t, g, at(12))
}

// A firing alert's endsAt wakes the group at the first grid point at or
// after it, as Alertmanager's flush finds it resolved there, whether or not
// dedup's resolved change has arrived by then. A re-send that moved the
// endsAt meanwhile makes that wake-up a flush with nothing to notify, and
// the next one follows the new endsAt.
func TestEndsAtWakesTheGroupOnGrid(t *testing.T) {
	g := NewGroup(testRoute(), at(0))
	a := firing("a", at(0), at(0))
	a.EndsAt = at(9)
	b := firing("b", at(0), at(0))
	b.EndsAt = at(14)
	g.Add("a", a, testRoute(), at(0))
	g.Add("b", b, testRoute(), at(0))
	flushAt(t, g, at(2))
	wantNext(t, g, at(12)) // grid 2, 7, 12: the first at or after 9
	f := flushAt(t, g, at(12))
	if len(f.Notified) != 1 || f.Firing(at(12)) != 1 {
		t.Fatalf("flush at 12: notified %v, %d firing, want a resolved, b firing", f.Notified, f.Firing(at(12)))
	}
	wantNext(t, g, at(17)) // b's endsAt, 14
	// b re-sent meanwhile, endsAt 40: the wake-up at 17 notifies nothing.
	refreshed := b
	refreshed.EndsAt, refreshed.UpdatedAt = at(40), at(15)
	g.Refresh(func(fp string) (alert.Alert, bool) { return refreshed, fp == "b" })
	if f := flushAt(t, g, at(17)); len(f.Notified) != 0 {
		t.Fatalf("wake-up for a moved endsAt notified: %v", f.Notified)
	}
	wantNext(t, g, at(37)) // the repeat (strictly after 12+20: 37) before b's new endsAt (40 → 42)
}

// A group emptied and created again restarts its flush sequence; its
// notifications must still get new message ids, or JetStream would drop them
// as duplicates of the old group's.
func TestRecreatedGroupGetsNewNotificationIDs(t *testing.T) {
	in := contract.Integration{Receiver: "r", Type: "webhook"}
	first := NewGroup(testRoute(), at(0))
	again := NewGroup(testRoute(), at(30))
	f := Flush{Seq: 1}
	if first.ID != again.ID {
		t.Fatal("same route and key must give the same group id")
	}
	if notificationID(first, f, in) == notificationID(again, f, in) {
		t.Fatal("re-created group reuses the old group's notification id")
	}
	if notificationID(first, f, in) != notificationID(first, f, in) {
		t.Fatal("notification id not deterministic")
	}
}

// Prometheus re-sends a firing alert with endsAt pushed forward; dedup keeps
// that as a refresh and emits no change. A flush judges the alert by the
// latest state, so it is not notified as resolved at its first endsAt, and
// the refresh alone wakes nothing.
func TestRefreshJudgesLatestEndsAt(t *testing.T) {
	g := NewGroup(testRoute(), at(0))
	a := firing("a", at(0), at(0))
	a.EndsAt = at(4)
	g.Add("a", a, testRoute(), at(0))
	flushAt(t, g, at(2))
	next := g.NextFlush
	refreshed := a
	refreshed.EndsAt, refreshed.UpdatedAt = at(30), at(3)
	g.Refresh(func(fp string) (alert.Alert, bool) { return refreshed, fp == "a" })
	if g.Dirty || !g.NextFlush.Equal(next) {
		t.Fatalf("a refresh woke the group: dirty=%v next %v", g.Dirty, g.NextFlush.Sub(t0))
	}
	f := g.Snapshot(at(7))
	if f.Firing(at(7)) != 1 {
		t.Fatalf("refreshed alert judged resolved at 7: %+v", f.Alerts)
	}
	// An older state from the lookup never replaces a newer one.
	g.Refresh(func(string) (alert.Alert, bool) { return a, true })
	if !g.Alerts["a"].EndsAt.Equal(at(30)) {
		t.Fatal("refresh went back to an older state")
	}
}

// A flush whose changes the log rules do not notify (annotations only)
// leaves the repeat where the last notification put it.
func TestUnnotifiedFlushKeepsRepeat(t *testing.T) {
	g := NewGroup(testRoute(), at(0))
	a := firing("a", at(0), at(0))
	g.Add("a", a, testRoute(), at(0))
	flushAt(t, g, at(2))
	b := a
	b.Annotations, b.UpdatedAt = model.LabelSet{"summary": "changed"}, at(3)
	g.Add("a", b, testRoute(), at(3))
	wantNext(t, g, at(7))
	if f := flushAt(t, g, at(7)); len(f.Notified) != 0 {
		t.Fatalf("annotation change notified: %+v", f.Notified)
	}
	// Repeat 20s from the notification at 2: first grid point after 22.
	wantNext(t, g, at(27))
}

// While a flush leaves alerts muted the group ticks on its grid, as
// Alertmanager's always do, so that an alert a silence stops muting is
// notified at the next tick.
func TestMutedGroupTicksOnGrid(t *testing.T) {
	g := NewGroup(testRoute(), at(0))
	g.Add("a", firing("a", at(0), at(0)), testRoute(), at(0))
	f := g.Snapshot(at(2))
	f.Muted = true
	g.AfterFlush(f, at(2))
	wantNext(t, g, at(7))
	f = g.Snapshot(at(7))
	f.Notified = g.Notify(f.Alerts, []bool{true}, at(7))
	g.AfterFlush(f, at(7))
	if len(f.Notified) != 1 || g.Muted {
		t.Fatalf("unmuted flush: notified %v muted %v", f.Notified, g.Muted)
	}
	wantNext(t, g, at(32))
}

// The log rules are kept per kind of integration: a resolution is notified
// to integrations that send resolved alerts only.
func TestNotifyPerSendResolvedKind(t *testing.T) {
	g := NewGroup(testRoute(), at(0))
	a, b := firing("a", at(0), at(0)), firing("b", at(0), at(0))
	g.Add("a", a, testRoute(), at(0))
	g.Add("b", b, testRoute(), at(0))
	f := g.Snapshot(at(2))
	f.Notified = g.Notify(f.Alerts, []bool{true, false}, at(2))
	g.AfterFlush(f, at(2))
	if len(f.Notified) != 2 {
		t.Fatalf("first notification for %d kinds, want 2", len(f.Notified))
	}
	g.Add("a", resolved(a, at(3), at(3)), testRoute(), at(3))
	f = g.Snapshot(at(7))
	f.Notified = g.Notify(f.Alerts, []bool{true, false}, at(7))
	if len(f.Notified) != 1 || !f.Notified[0].SendResolved {
		t.Fatalf("resolution notified to %+v, want the send_resolved kind only", f.Notified)
	}
}

// A flush's alerts are in Alertmanager's order, so max_alerts keeps the
// same ones.
func TestSnapshotInAlertmanagersOrder(t *testing.T) {
	g := NewGroup(testRoute(), at(0))
	for i, job := range []string{"z", "", "a"} {
		a := firing(fmt.Sprint(i), at(0), at(0))
		if job != "" {
			a.Labels["job"] = model.LabelValue(job)
		}
		g.Add(fmt.Sprint(i), a, testRoute(), at(0))
	}
	f := g.Snapshot(at(2))
	var jobs []string
	for _, a := range f.Alerts {
		jobs = append(jobs, string(a.Labels["job"]))
	}
	if strings.Join(jobs, ",") != "a,z," {
		t.Fatalf("order by job %q, want a,z, then none", jobs)
	}
}

// Every integration of a receiver counts for the kinds of log state a group
// keeps: a PagerDuty (send_resolved by default) next to a Slack (not).
func TestSendResolvedKindsOfEveryIntegration(t *testing.T) {
	cfg, err := config.Parse([]byte(`route: {receiver: r}
receivers:
  - name: r
    slack_configs: [{api_url: "https://hooks.slack.com/services/x", channel: "#c"}]
    pagerduty_configs: [{routing_key: k}]
`), "")
	if err != nil {
		t.Fatal(err)
	}
	kinds := sendResolvedKinds(cfg.Receiver("r"))
	if len(kinds) != 2 || kinds[0] == kinds[1] {
		t.Fatalf("kinds %v, want both send_resolved values", kinds)
	}
}

// A group's stored value, read back as a new owner reads it (alert.Unmarshal),
// is what encoding/json reads of it.
func TestStoredGroupReadsAsEncodingJSONReadsIt(t *testing.T) {
	r := testRoute()
	r.GroupLabels, r.MuteTimeIntervals = model.LabelSet{"alertname": "A"}, []string{"night"}
	g := NewGroup(r, t0)
	g.Add("f1", firing("x", t0, t0), r, t0)
	g.Add("f2", resolved(firing("y", t0, t0), at(1), at(1)), r, at(1))
	flushAt(t, g, g.NextFlush)
	data, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	var want, got Group
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	if err := alert.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	w, _ := json.Marshal(want)
	gj, _ := json.Marshal(got)
	if string(w) != string(gj) || len(got.Notified) == 0 || len(got.Alerts) != 1 { // the resolved one left at the flush
		t.Errorf("read back:\n%s\nwant\n%s", gj, w)
	}
}
