package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klaxon-alerts/klaxon/pkg/contract"
)

// Timeline tests: alerts pushed at times t, notifications wanted within
// windows, with short timings, so that Alertmanager's timing rules can be
// read off each test. Times are seconds from the test's start.
//
// Timings unless a test says otherwise: group_wait 1s, group_interval 2s,
// repeat_interval 1h. A window allows 0.9 s of delivery latency.
const slack = 0.9

type timeline struct {
	t       *testing.T
	start   time.Time
	sink    *sink
	web     string
	natsURL string
}

// timelineConfig writes a config with the given timings and two receivers:
// "hook" (send_resolved true, the webhook default) and "quiet"
// (send_resolved false), chosen by the label receiver="quiet".
func timelineConfig(t *testing.T, url string, gw, gi, ri string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "klaxon.yml")
	cfg := fmt.Sprintf(`route:
  receiver: hook
  group_by: ['alertname']
  group_wait: %s
  group_interval: %s
  repeat_interval: %s
  routes:
    - matchers: ['receiver="quiet"']
      receiver: quiet
receivers:
  - name: hook
    webhook_configs: [{url: %q}]
  - name: quiet
    webhook_configs: [{url: %q, send_resolved: false}]
`, gw, gi, ri, url, url)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func newTimeline(t *testing.T, gw, gi, ri string) *timeline {
	s := newSink(t)
	_, web, natsAddr := klaxonOne(t, timelineConfig(t, s.srv.URL, gw, gi, ri), t.TempDir())
	return &timeline{t: t, start: time.Now(), sink: s, web: web, natsURL: "nats://" + natsAddr}
}

// at waits for the moment t of the timeline (scheduling the next push; it
// does not wait for work to happen).
func (tl *timeline) at(sec float64) {
	time.Sleep(time.Until(tl.start.Add(time.Duration(sec * float64(time.Second)))))
}

func (tl *timeline) since(tm time.Time) float64 { return tm.Sub(tl.start).Seconds() }

// push sends an alert (alertname=name plus labels) as Prometheus does:
// firing since now, or resolved now.
func (tl *timeline) push(resolved bool, name string, labels ...string) {
	tl.t.Helper()
	a := firingAlert(append([]string{"alertname", name}, labels...)...)
	if resolved {
		a.EndsAt = time.Now()
	}
	if code := postAlerts(tl.t, tl.web, []postable{a}); code != http.StatusOK {
		tl.t.Fatalf("POST = %d", code)
	}
}

// expect wants exactly the notifications described, in order: each as
// "from-to status alert,alert", e.g. "1-1.9 firing A/x,A/y" (alert names by
// their label n). It waits until that many arrived, then checks the drained
// pipeline sent no more.
type expected struct {
	from, to float64
	status   string
	alerts   string // sorted "n" labels, comma-separated
	reason   string // notification_reason, if checked
}

func (tl *timeline) expect(want ...expected) {
	tl.t.Helper()
	eventually(tl.t, time.Duration((want[len(want)-1].to+5)*float64(time.Second)), fmt.Sprintf("%d notifications", len(want)),
		func() bool { return len(tl.sink.messages()) >= len(want) })
	tl.drained()
	got := tl.sink.messages()
	if len(got) != len(want) {
		tl.t.Fatalf("got %d notifications, want %d: %s", len(got), len(want), tl.describe(got))
	}
	for i, w := range want {
		r := got[i]
		var names []string
		for _, a := range r.msg.Alerts {
			names = append(names, a.Labels["n"]+"/"+a.Status)
		}
		slices.Sort(names)
		when := tl.since(r.at)
		if when < w.from || when > w.to || r.msg.Status != w.status || strings.Join(names, ",") != w.alerts ||
			(w.reason != "" && r.reason != w.reason) {
			tl.t.Errorf("notification %d at %.2fs: %s [%s] reason %q; want in [%.1f, %.1f] %s [%s] %q",
				i, when, r.msg.Status, strings.Join(names, ","), r.reason, w.from, w.to, w.status, w.alerts, w.reason)
		}
	}
}

// drained waits until every consumer of the pipeline is idle.
func (tl *timeline) drained() {
	tl.t.Helper()
	waitQuiet(tl.t, tl.natsURL, 20*time.Second)
}

func (tl *timeline) describe(rs []received) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "\n  %.2fs %s %d alerts (%s)", tl.since(r.at), r.msg.Status, len(r.msg.Alerts), r.reason)
	}
	return b.String()
}

// First notification group_wait after the group's first alert; a second
// alert within group_wait joins it.
func TestTimelineFirstNotificationAtGroupWait(t *testing.T) {
	tl := newTimeline(t, "1s", "2s", "1h")
	tl.push(false, "A", "n", "x")
	tl.at(0.5)
	tl.push(false, "A", "n", "y")
	tl.expect(expected{1, 1 + slack, "firing", "x/firing,y/firing", "first notification"})
}

// A later alert goes out on the group_interval grid (first flush at 1, then
// 3, 5, ...), with the alerts already notified.
func TestTimelineNewAlertOnGroupIntervalGrid(t *testing.T) {
	tl := newTimeline(t, "1s", "2s", "1h")
	tl.push(false, "A", "n", "x")
	tl.at(1.5)
	tl.push(false, "A", "n", "y")
	tl.expect(
		expected{1, 1 + slack, "firing", "x/firing", "first notification"},
		expected{3, 3 + slack, "firing", "x/firing,y/firing", "new alerts added"},
	)
}

// Resolution with send_resolved goes out on the grid; the emptied group ends.
func TestTimelineResolvedOnGrid(t *testing.T) {
	tl := newTimeline(t, "1s", "2s", "1h")
	tl.push(false, "A", "n", "x")
	tl.at(1.5)
	tl.push(true, "A", "n", "x")
	tl.expect(
		expected{1, 1 + slack, "firing", "x/firing", ""},
		expected{3, 3 + slack, "resolved", "x/resolved", "all alerts resolved"},
	)
	eventually(t, 10*time.Second, "group deleted", func() bool {
		return metric(t, tl.web, `klaxon_grouper_groups_total{event="deleted"}`) == 1
	})
}

// A group that fires and resolves within group_wait sends nothing.
func TestTimelineFireAndResolveWithinGroupWait(t *testing.T) {
	tl := newTimeline(t, "1s", "2s", "1h")
	tl.push(false, "A", "n", "x")
	tl.at(0.3)
	tl.push(true, "A", "n", "x")
	eventually(t, 10*time.Second, "the group's flush at group_wait", func() bool {
		return metric(t, tl.web, `klaxon_grouper_flushes_total{outcome="flushed"}`) >= 1
	})
	tl.drained()
	if got := tl.sink.messages(); len(got) != 0 {
		t.Fatalf("notified %s", tl.describe(got))
	}
}

// An unchanged firing group repeats at the first grid point after
// repeat_interval: last notification at 1, repeat 3s, grid 1s → 5.
func TestTimelineRepeatInterval(t *testing.T) {
	tl := newTimeline(t, "1s", "1s", "3s")
	tl.push(false, "A", "n", "x")
	tl.expect(
		expected{1, 1 + slack, "firing", "x/firing", "first notification"},
		expected{5, 5 + slack, "firing", "x/firing", "repeat interval elapsed"},
	)
}

// An alert whose sender stops sending resolves at its endsAt, and the
// resolution goes out at the next grid point.
func TestTimelineExpiryByEndsAt(t *testing.T) {
	tl := newTimeline(t, "1s", "2s", "1h")
	a := firingAlert("alertname", "A", "n", "x")
	a.StartsAt, a.EndsAt = tl.start, tl.start.Add(2*time.Second)
	if code := postAlerts(t, tl.web, []postable{a}); code != http.StatusOK {
		t.Fatalf("POST = %d", code)
	}
	tl.expect(
		expected{1, 1 + slack, "firing", "x/firing", ""},
		expected{3, 3 + slack, "resolved", "x/resolved", ""},
	)
}

// Without send_resolved a resolution sends nothing but clears the log: the
// alert firing again later is a first notification again.
func TestTimelineSendResolvedFalse(t *testing.T) {
	tl := newTimeline(t, "1s", "2s", "1h")
	tl.push(false, "A", "n", "x", "receiver", "quiet")
	tl.at(1.5)
	tl.push(true, "A", "n", "x", "receiver", "quiet")
	tl.at(4)
	tl.push(false, "A", "n", "x", "receiver", "quiet")
	tl.expect(
		expected{1, 1 + slack, "firing", "x/firing", "first notification"},
		expected{5, 5 + slack, "firing", "x/firing", "first notification"},
	)
}

// A config reload keeps groups and their notification state: no re-notify,
// and the next alert joins the existing group on its grid.
func TestTimelineReloadDoesNotRenotify(t *testing.T) {
	s := newSink(t)
	cfgPath := timelineConfig(t, s.srv.URL, "1s", "2s", "1h")
	p, web, natsAddr := klaxonOne(t, cfgPath, t.TempDir())
	tl := &timeline{t: t, start: time.Now(), sink: s, web: web, natsURL: "nats://" + natsAddr}
	tl.push(false, "A", "n", "x")
	tl.at(1.5)
	if err := p.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	tl.at(2)
	tl.push(false, "A", "n", "y")
	tl.expect(
		expected{1, 1 + slack, "firing", "x/firing", "first notification"},
		expected{3, 3 + slack, "firing", "x/firing,y/firing", "new alerts added"},
	)
}

// Restarts keep timing: a group's pending flush is a scheduled message in
// JetStream, so killing (SIGKILL) and restarting any stage, or restarting
// the NATS server, or all of them, between the first alert and group_wait neither loses nor
// delays the first notification beyond the restart itself.
func TestTimelineRestartMidGroup(t *testing.T) {
	for _, stage := range append(slices.Clone(contract.Stages[1:]), "nats-server", "all") {
		t.Run(stage, func(t *testing.T) {
			s := newSink(t)
			c := newCluster(t, timelineConfig(t, s.srv.URL, "2s", "2s", "1h"), nil)
			tl := &timeline{t: t, start: time.Now(), sink: s, web: c.Ingest, natsURL: c.NATSURL}
			tl.push(false, "A", "n", "x")
			tl.at(0.3)
			switch stage {
			case "nats-server":
				c.RestartNATS()
			case "all":
				for _, st := range contract.Stages {
					c.Stages[st][0].Kill()
				}
				c.RestartNATS()
				for _, st := range contract.Stages {
					c.StartStage(st, 0)
				}
			default:
				c.Stages[stage][0].Kill()
				c.StartStage(stage, 0)
			}
			tl.web = c.Ingest // a restarted ingest listens elsewhere
			tl.at(2.5)
			tl.push(false, "A", "n", "y")
			eventually(t, 20*time.Second, "two notifications", func() bool { return len(s.messages()) >= 2 })
			c.Quiet(30 * time.Second)
			got := s.messages()
			if len(got) != 2 {
				t.Fatalf("got %d notifications, want 2: %s", len(got), tl.describe(got))
			}
			if first := tl.since(got[0].at); first < 2 || first > 2+1.5 {
				t.Errorf("first notification at %.2fs, want at group_wait 2s (+ restart)", first)
			}
			if second := tl.since(got[1].at); second < 4 || second > 4+slack {
				t.Errorf("second notification at %.2fs, want on the grid at 4s", second)
			}
		})
	}
}
