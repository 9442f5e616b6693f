package conformance

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// tolerance is how far apart the two targets' notifications of the same
// flush may arrive, and how far apart the times an alert carries may be
// when the target sets them on receipt (a missing startsAt or endsAt). It is
// well under the group_interval of every scenario (3s), so a notification on
// the wrong grid point, or one that waited for a repeat, never passes.
const tolerance = 900 * time.Millisecond

// flow is the notifications of one group to one receiver (webhook path).
type flow struct{ path, groupKey string }

func (n notification) flow() flow { return flow{n.path, n.GroupKey} }

// compare wants Klaxon's notifications to be Alertmanager's, flow by flow.
func compare(t *testing.T, r *run, am, kx []notification) {
	t.Helper()
	var flows []flow
	for _, n := range append(slices.Clone(am), kx...) {
		if !slices.Contains(flows, n.flow()) {
			flows = append(flows, n.flow())
		}
	}
	if len(am) == 0 && len(kx) == 0 {
		t.Log("neither target notified anything (as the scenario may want)")
	}
	var gap time.Duration // the largest arrival gap of matching notifications
	for _, f := range flows {
		a, k := only(am, f), only(kx, f)
		for i := range min(len(a), len(k)) {
			gap = max(gap, k[i].at.Sub(a[i].at).Abs())
		}
		var diffs []string
		for i := range max(len(a), len(k)) {
			switch {
			case i >= len(a):
				diffs = append(diffs, fmt.Sprintf("#%d only Klaxon: %s", i, r.describe(k[i])))
			case i >= len(k):
				diffs = append(diffs, fmt.Sprintf("#%d only Alertmanager: %s", i, r.describe(a[i])))
			default:
				if d := differences(a[i], k[i]); d != "" {
					diffs = append(diffs, fmt.Sprintf("#%d %s\n      Alertmanager: %s\n      Klaxon:       %s", i, d, r.describe(a[i]), r.describe(k[i])))
				}
			}
		}
		if len(diffs) > 0 {
			t.Errorf("receiver %s group %s: Klaxon differs from Alertmanager:\n  %s\n  Alertmanager's flow:%s\n  Klaxon's flow:%s",
				f.path, f.groupKey, strings.Join(diffs, "\n  "), r.describeAll(a), r.describeAll(k))
		}
	}
	if !t.Failed() {
		t.Logf("%d notifications agree, arrivals at most %v apart: %s", len(am), gap.Round(time.Millisecond), r.describeAll(am))
	}
}

func only(ns []notification, f flow) []notification {
	var out []notification
	for _, n := range ns {
		if n.flow() == f {
			out = append(out, n)
		}
	}
	return out
}

// differences names what differs between Alertmanager's notification a and
// Klaxon's k ("" if nothing).
func differences(a, k notification) string {
	var d []string
	if dt := k.at.Sub(a.at); dt > tolerance || dt < -tolerance {
		d = append(d, fmt.Sprintf("arrival %+.2fs apart", dt.Seconds()))
	}
	if a.Status != k.Status {
		d = append(d, "status")
	}
	if a.TruncatedAlerts != k.TruncatedAlerts {
		d = append(d, "truncatedAlerts")
	}
	if !maps.Equal(a.GroupLabels, k.GroupLabels) {
		d = append(d, "groupLabels")
	}
	if !maps.Equal(a.CommonLabels, k.CommonLabels) {
		d = append(d, "commonLabels")
	}
	if !maps.Equal(a.CommonAnnotations, k.CommonAnnotations) {
		d = append(d, "commonAnnotations")
	}
	if a.Receiver != k.Receiver {
		d = append(d, "receiver")
	}
	if len(a.Alerts) != len(k.Alerts) {
		d = append(d, "number of alerts")
	} else {
		for i := range a.Alerts {
			x, y := a.Alerts[i], k.Alerts[i]
			switch {
			case !maps.Equal(x.Labels, y.Labels):
				d = append(d, fmt.Sprintf("alert %d labels (order)", i))
			case x.Status != y.Status:
				d = append(d, fmt.Sprintf("alert %d status", i))
			case !maps.Equal(x.Annotations, y.Annotations):
				d = append(d, fmt.Sprintf("alert %d annotations", i))
			case x.Fingerprint != y.Fingerprint:
				d = append(d, fmt.Sprintf("alert %d fingerprint", i))
			case !near(x.StartsAt, y.StartsAt):
				d = append(d, fmt.Sprintf("alert %d startsAt %v vs %v", i, x.StartsAt, y.StartsAt))
			case !near(x.EndsAt, y.EndsAt):
				d = append(d, fmt.Sprintf("alert %d endsAt %v vs %v", i, x.EndsAt, y.EndsAt))
			}
		}
	}
	return strings.Join(d, ", ")
}

func near(a, b time.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero() == b.IsZero()
	}
	dt := a.Sub(b)
	return dt <= tolerance && dt >= -tolerance
}

// describe is one notification as a timeline line:
// "4.02s resolved [A n=x resolved, A n=y firing] truncated 0".
func (r *run) describe(n notification) string {
	var alerts []string
	for _, a := range n.Alerts {
		var ls []string
		for _, k := range slices.Sorted(maps.Keys(a.Labels)) {
			if k != "alertname" {
				ls = append(ls, k+"="+a.Labels[k])
			}
		}
		alerts = append(alerts, strings.TrimSpace(a.Labels["alertname"]+" "+strings.Join(ls, " "))+" "+a.Status)
	}
	s := fmt.Sprintf("%.2fs %s [%s]", n.at.Sub(r.t0).Seconds(), n.Status, strings.Join(alerts, ", "))
	if n.TruncatedAlerts > 0 {
		s += fmt.Sprintf(" truncated %d", n.TruncatedAlerts)
	}
	return s
}

func (r *run) describeAll(ns []notification) string {
	var b strings.Builder
	for _, n := range ns {
		fmt.Fprintf(&b, "\n      %s %s %s", n.path, n.GroupKey, r.describe(n))
	}
	return b.String()
}
