package conformance

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// The scenarios, written from Alertmanager's documentation and behaviour.
// Times are seconds from t0. Unless a scenario says otherwise: group_by
// [alertname], group_wait 1s, group_interval 3s (grid 1, 4, 7, ...),
// repeat_interval 1h. A repeat_interval is never a multiple of the
// group_interval: Alertmanager measures it from the time its log was
// written, a few milliseconds after the tick, so at an exact multiple its
// own repeat falls on either of two ticks.

// receivers every config has: hook (send_resolved, the webhook default),
// quiet (send_resolved false), other, and capped (max_alerts 2).
const receivers = `
receivers:
  - name: hook
    webhook_configs: [{url: "{{URL}}/hook"}]
  - name: quiet
    webhook_configs: [{url: "{{URL}}/quiet", send_resolved: false}]
  - name: other
    webhook_configs: [{url: "{{URL}}/other"}]
  - name: capped
    webhook_configs: [{url: "{{URL}}/capped", max_alerts: 2}]
`

// config is an alertmanager.yml: the root route's settings (indented two
// spaces; the default timings for those it does not set), then the
// receivers, then the rest.
func config(route string, rest ...string) string {
	root := "route:\n  receiver: hook\n"
	for _, d := range []string{"group_wait: 1s", "group_interval: 3s", "repeat_interval: 1h"} {
		if key, _, _ := strings.Cut(d, ":"); !strings.Contains(route, "\n  "+key+":") && !strings.HasPrefix(route, "  "+key+":") {
			root += "  " + d + "\n"
		}
	}
	return root + route + receivers + strings.Join(rest, "\n")
}

const byAlertname = "  group_by: [alertname]\n"

var scenarios = []scenario{
	// --- group_wait, the group_interval grid, repeat ---
	{
		name:   "group_wait batches the alerts of its window",
		config: config(byAlertname),
		steps:  steps(post(0, alert("A n=x", 0, 60)), post(0.5, alert("A n=y", 0.5, 60)), post(0.7, alert("B n=z", 0.7, 60))),
		end:    3,
	},
	{
		name:   "a later alert waits for the next grid tick",
		config: config(byAlertname),
		steps:  steps(post(0, alert("A n=x", 0, 60)), post(2, alert("A n=y", 2, 60)), post(5, alert("A n=z", 5, 60))),
		end:    9,
	},
	{
		name:   "an old alert in a new group is flushed at once",
		config: config(byAlertname),
		steps:  steps(post(0, alert("A n=x", -30, 60))),
		end:    3,
	},
	{
		name:   "an old alert joining a group before its first flush flushes it at once",
		config: config(byAlertname + "  group_wait: 2s\n"),
		steps:  steps(post(0, alert("A n=x", 0, 60)), post(0.5, alert("A n=y", -30, 60))),
		end:    4,
	},
	{
		name:   "repeat at the first tick after repeat_interval",
		config: config(byAlertname + "  repeat_interval: 8s\n"),
		steps:  steps(post(0, alert("A n=x", 0, 60))),
		end:    20,
	},
	{
		name:   "nothing new, nothing sent until the repeat",
		config: config(byAlertname + "  repeat_interval: 11s\n"),
		steps:  steps(post(0, alert("A n=x", 0, 60)), post(2, alert("A n=x", 0, 60)), post(5, alert("A n=x", 0, 60))),
		end:    15,
	},

	// --- resolution ---
	{
		name:   "resolved by endsAt at the next tick",
		config: config(byAlertname),
		steps:  steps(post(0, alert("A n=x", 0, 2.5), alert("A n=y", 0, 60))),
		end:    6,
	},
	{
		name:   "resolved by a post with endsAt now",
		config: config(byAlertname),
		steps:  steps(post(0, alert("A n=x", 0, 60)), post(2, alert("A n=x", 0, 2))),
		end:    6,
	},
	{
		name:   "resolve_timeout ends an alert sent without endsAt",
		config: "global:\n  resolve_timeout: 5s\n" + config(byAlertname),
		steps:  steps(post(0, alert("A n=x", 0, never)), post(3, alert("A n=y", never, never))),
		end:    11,
	},
	{
		name:   "a resend without endsAt keeps the alert firing past resolve_timeout",
		config: "global:\n  resolve_timeout: 4s\n" + config(byAlertname),
		steps:  steps(post(0, alert("A n=x", 0, never)), post(2.5, alert("A n=x", 0, never)), post(5, alert("A n=x", 0, never))),
		end:    13,
	},
	{
		name:   "a group that fires and resolves within group_wait sends nothing",
		config: config(byAlertname),
		steps:  steps(post(0, alert("A n=x", 0, 60)), post(0.4, alert("A n=x", 0, 0.4))),
		end:    6,
	},
	{
		name:   "re-fire after the resolution was sent",
		config: config(byAlertname),
		steps:  steps(post(0, alert("A n=x", 0, 60)), post(2, alert("A n=x", 0, 2)), post(4.5, alert("A n=x", 4.5, 60))),
		end:    8,
		differs: "a group emptied by its flush ends at once, as in Alertmanager since 0.32: the re-fired alert " +
			"starts a new group and waits group_wait (5.5s); Alertmanager 0.25 kept the empty group until its " +
			"30s maintenance and notified it on the old grid (7s)",
		klaxon: func(r *run, am []notification) []notification {
			return arriveAt(r, am, 4.5, 5.5)
		},
	},
	{
		name:   "send_resolved false: no resolution, a re-fire is notified again",
		config: config("  group_by: [alertname]\n  routes:\n    - receiver: quiet\n"),
		steps: steps(
			post(0, alert("A n=x", 0, 60), alert("A n=y", 0, 60), alert("A n=z", 0, 60)),
			post(2, alert("A n=x", 0, 2)), post(5, alert("A n=y", 0, 5)), post(8, alert("A n=x", 8, 60)),
		),
		end: 14,
	},

	// --- Prometheus' re-sends (the false RESOLVED of the issue) ---
	{
		name:   "Prometheus re-sends keep an alert firing through every flush",
		config: config(byAlertname + "  repeat_interval: 8s\n"),
		steps: steps(
			resend(0, 16, 1, 4, alert("A n=x", 0, 0)),
			post(5, alert("A n=y", 5, 60)),
		),
		end: 24,
	},
	{
		name:   "an alert Prometheus stops re-sending resolves at its last endsAt",
		config: config(byAlertname),
		steps: steps(
			resend(0, 6, 1.5, 3, alert("A n=x", 0, 0)),
			resend(0, 15, 1.5, 3, alert("A n=y", 0, 0)),
		),
		end: 16,
	},

	{
		// Klaxon writes a re-send that only moves endsAt later when the
		// stored end is near (dedup's deferred writes): here the stored
		// end is rewritten twice while the alert fires, and it resolves at
		// the last end posted.
		name:   "re-sends with a distant endsAt keep the alert firing; it resolves at the last one",
		config: config(byAlertname),
		steps: steps(
			resend(0, 9, 2, 33, alert("A n=x", 0, 0)),
			post(12, alert("A n=y", 12, 60)),
		),
		end: 44,
	},
	{
		name:   "a label with an empty value is dropped, as Alertmanager drops it",
		config: config(byAlertname),
		steps:  steps(post(0, alert("A n=x e=", 0, 60)), post(1, alert("A n=x", 1, 60)), post(2.5, alert("A n=y e=", 2.5, 60))),
		end:    5,
	},

	// --- merges of posts ---
	{
		name:   "a later post with an earlier endsAt does not resolve the alert",
		config: config(byAlertname),
		steps:  steps(post(0, alert("A n=x", 0, 30)), post(0.5, alert("A n=x", 0, 3)), post(6, alert("A n=y", 6, 60))),
		end:    11,
	},
	{
		name:   "the earliest startsAt is kept",
		config: config(byAlertname),
		steps:  steps(post(0, alert("A n=x", 0, 60)), post(1.5, alert("A n=x", -20, 60)), post(2, alert("A n=y", 2, 60))),
		end:    6,
	},
	{
		name:   "changed annotations alone do not notify; the repeat carries them",
		config: config(byAlertname + "  repeat_interval: 8s\n"),
		steps:  steps(post(0, alert("A n=x", 0, 60).with("summary=first")), post(2, alert("A n=x", 0, 60).with("summary=second"))),
		end:    12,
	},
	{
		name:   "an alert resolved and posted firing again with a new start",
		config: config(byAlertname),
		steps:  steps(post(0, alert("A n=x", 0, 60)), post(2, alert("A n=x", 0, 2)), post(2.5, alert("A n=x", 2.5, 60))),
		end:    9,
	},

	// --- what a sender may post ---
	{
		name: "an alert of 450 KB is notified end to end",
		// group_wait 3s: half a megabyte takes its time through a loaded
		// machine, on both sides.
		config: config(byAlertname + "  group_wait: 3s\n"),
		steps:  steps(post(0, alert("A n=x", 0, 60).with("dump="+strings.Repeat("x", 450<<10)), alert("A n=y", 0, 60))),
		end:    5,
	},

	{
		// ~900 KB of alerts: beyond what Klaxon carries in one message
		// (512 KiB), so the notification's alerts go through the object
		// store klaxon-flushes (pkg/largeflush). group_wait 10s: posting
		// them took 2.6 s on a machine running the other suites, and a
		// group that starts with the first alert in flushed at 3 s with
		// part of them (on both sides; Alertmanager's POST came last).
		name:   "a group of 2,000 alerts is notified whole, every alert in order",
		config: config(byAlertname + "  group_wait: 10s\n"),
		steps:  steps(post(0, manyAlerts(2000, "A", strings.Repeat("x", 300))...)),
		end:    13,
	},

	// --- group_by forms ---
	{
		name:   "group_by ['...']: every alert its own group",
		config: config("  group_by: ['...']\n"),
		steps:  steps(post(0, alert("A n=x", 0, 60), alert("A n=y", 0, 60), alert("B n=x", 0, 60))),
		end:    3,
	},
	{
		name:   "no group_by: one group for all",
		config: config(""),
		steps:  steps(post(0, alert("A n=x", 0, 60), alert("B n=y", 0, 60)), post(2, alert("C", 2, 60))),
		end:    6,
	},
	{
		name:   "group_by a label some alerts lack",
		config: config("  group_by: [cluster]\n"),
		steps:  steps(post(0, alert("A cluster=eu", 0, 60), alert("B cluster=us", 0, 60), alert("C", 0, 60), alert("D", 0, 60))),
		end:    3,
	},

	// --- routing: continue, per-route timings ---
	{
		name: "continue: true notifies every matching route",
		config: config(byAlertname + `  routes:
    - matchers: [team="db"]
      receiver: other
      continue: true
    - matchers: [severity="critical"]
      receiver: quiet
    - matchers: [team="db"]
      receiver: capped
`),
		steps: steps(post(0, alert("A team=db severity=critical", 0, 60), alert("B team=db", 0, 60), alert("C team=web", 0, 60))),
		end:   3,
	},
	{
		name: "per-route timings and inherited group_by",
		config: config(byAlertname + `  routes:
    - matchers: [team="db"]
      receiver: other
      group_wait: 2s
      group_interval: 4s
      routes:
        - matchers: [severity="page"]
          receiver: capped
          group_by: [alertname, instance]
`),
		steps: steps(
			post(0, alert("A team=db", 0, 60), alert("A team=db severity=page instance=a", 0, 60), alert("A team=web", 0, 60)),
			post(3, alert("A team=db n=2", 3, 60), alert("A team=db severity=page instance=a n=2", 3, 60)),
		),
		end: 9,
	},

	// --- order and truncation ---
	{
		name:   "alerts sorted by job, then instance, then labels; max_alerts keeps the first",
		config: config("  group_by: [alertname]\n  routes:\n    - receiver: capped\n      continue: true\n    - receiver: hook\n"),
		steps: steps(post(0,
			alert("A instance=b job=z", 0, 60), alert("A instance=a job=z", 0, 60),
			alert("A instance=c", 0, 60), alert("A job=y", 0, 60), alert("A n=1", 0, 60),
			alert("A instance=a job=a", 0, 60),
		)),
		end: 3,
	},

	// --- silences ---
	{
		name:   "a silenced alert is not notified; it is after the silence expires",
		config: config(byAlertname),
		steps:  steps(silence(0, "s", `n="x"`, 0, 600), post(0.2, alert("A n=x", 0, 60), alert("A n=y", 0, 60)), expire(5, "s")),
		end:    9,
	},
	{
		name:   "a silence that ends by itself unmutes at the next tick",
		config: config(byAlertname),
		steps:  steps(silence(0, "s", `alertname="A"`, 0, 5.5), post(0.2, alert("A n=x", 0, 60))),
		end:    9,
	},
	{
		name:   "a silence added after the notification mutes the resolution",
		config: config(byAlertname),
		steps:  steps(post(0, alert("A n=x", 0, 60), alert("A n=y", 0, 60)), silence(2, "s", `n="x"`, 2, 600), post(2.5, alert("A n=x", 0, 2.5)), post(5, alert("A n=z", 5, 60))),
		end:    9,
	},
	{
		name:   "a pending silence mutes from its start",
		config: config(byAlertname),
		steps:  steps(silence(0, "s", `n=~"x|y"`, 3, 600), post(0.2, alert("A n=x", 0, 60)), post(3.5, alert("A n=y", 3.5, 60)), post(5.5, alert("A n=z", 5.5, 60))),
		end:    9,
	},
	{
		name:   "expiring a silence on a notified alert does not re-notify before the repeat",
		config: config(byAlertname + "  repeat_interval: 11s\n"),
		steps:  steps(post(0, alert("A n=x", 0, 60)), silence(2, "s", `n="x"`, 2, 600), expire(6, "s")),
		end:    15,
	},

	// --- inhibition ---
	{
		name: "inhibition mutes the target while the source fires; it ends at the next tick",
		config: config("  group_by: [alertname]\n", `inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [instance]
`),
		steps: steps(
			post(0, alert("Down severity=critical instance=a", 0, 5), alert("Slow severity=warning instance=a", 0, 60), alert("Slow severity=warning instance=b", 0, 60)),
		),
		end: 10,
	},
	{
		name: "an alert that matches both sides is not inhibited by its own kind",
		config: config("  group_by: ['...']\n", `inhibit_rules:
  - source_matchers: [alertname="A"]
    target_matchers: [alertname="A"]
    equal: [cluster]
  - source_match: {alertname: B}
    target_match_re: {alertname: "C|D"}
`),
		steps: steps(post(0, alert("A cluster=eu n=1", 0, 60), alert("A cluster=eu n=2", 0, 60), alert("B", 0, 60), alert("C", 0, 60), alert("E", 0, 60))),
		end:   3,
	},

	// --- time intervals ---
	{
		name: "mute_time_intervals and active_time_intervals",
		config: config("  group_by: [alertname]\n"+`  routes:
    - matchers: [alertname="Muted"]
      mute_time_intervals: [always]
    - matchers: [alertname="Inactive"]
      active_time_intervals: [never]
    - matchers: [alertname="Active"]
      active_time_intervals: [always]
    - matchers: [alertname="NotMuted"]
      mute_time_intervals: [never]
`, `time_intervals:
  - name: always
    time_intervals: [{weekdays: ['sunday:saturday']}]
  - name: never
    time_intervals: [{years: ['2001']}]
`),
		steps: steps(post(0, alert("Muted", 0, 60), alert("Inactive", 0, 60), alert("Active", 0, 60), alert("NotMuted", 0, 60))),
		end:   3,
	},
	{
		name:     "a mute time interval that ends unmutes at the next tick",
		minuteAt: 5,
		configAt: func(t0 time.Time) string {
			boundary := t0.Add(5 * time.Second).UTC()
			start := boundary.Add(-time.Minute)
			return config("  group_by: [alertname]\n  routes:\n    - mute_time_intervals: [this-minute]\n", fmt.Sprintf(`time_intervals:
  - name: this-minute
    time_intervals:
      - times: [{start_time: "%s", end_time: "%s"}]
`, start.Format("15:04"), hhmm(boundary)))
		},
		steps: steps(post(0, alert("A n=x", 0, 60))),
		end:   9,
	},

	// --- a stage restarted (SIGKILL) mid-scenario, Klaxon as microservices ---
	{
		name:    "restart dedup between the first alert and its resend",
		config:  config(byAlertname),
		restart: true,
		steps:   steps(resend(0, 9, 1, 4, alert("A n=x", 0, 0)), restart(1.5, "dedup"), post(5, alert("A n=y", 5, 60))),
		end:     16,
	},
	{
		name:    "restart router while alerts arrive",
		config:  config(byAlertname),
		restart: true,
		steps:   steps(post(0, alert("A n=x", 0, 60)), restart(1.5, "router"), post(2, alert("A n=y", 2, 60))),
		end:     6,
	},
	{
		name:    "restart grouper between flushes",
		config:  config(byAlertname),
		restart: true,
		steps:   steps(post(0, alert("A n=x", 0, 60)), restart(1.5, "grouper"), post(4.5, alert("A n=x", 0, 4.5))),
		end:     9,
	},
	{
		name:    "restart notifier between notifications",
		config:  config(byAlertname + "  repeat_interval: 5s\n"),
		restart: true,
		steps:   steps(post(0, alert("A n=x", 0, 60)), restart(1.5, "notifier"), post(2, alert("A n=y", 2, 60))),
		end:     12,
	},
	{
		name:    "restart ingest, then resolve through the new one",
		config:  config(byAlertname),
		restart: true,
		steps:   steps(post(0, alert("A n=x", 0, 60), alert("A n=y", 0, 60)), restart(1.5, "ingest"), post(3, alert("A n=x", 0, 3))),
		end:     6,
	},
}

// arriveAt moves the notifications Alertmanager sent after second after to
// second at (a declared difference in timing).
func arriveAt(r *run, am []notification, after, at float64) []notification {
	for i := range am {
		if am[i].at.After(r.time(after)) {
			am[i].at = r.time(at)
		}
	}
	return am
}

// hhmm is a time interval's end: 24:00 for midnight.
func hhmm(t time.Time) string {
	if t.Hour() == 0 && t.Minute() == 0 {
		return "24:00"
	}
	return t.Format("15:04")
}

// TestConformance runs every scenario on Alertmanager and Klaxon.
func TestConformance(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			runScenario(t, sc)
		})
	}
}

// manyAlerts is n firing alerts of alertname name, n=0…n-1, each with a
// summary annotation.
func manyAlerts(n int, name, summary string) []alertSpec {
	as := make([]alertSpec, n)
	for i := range as {
		as[i] = alert(fmt.Sprintf("%s n=%d", name, i), 0, 60).with("summary=" + summary)
	}
	return as
}
