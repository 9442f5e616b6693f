package conformance

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// A scenario is a timeline read in seconds from a shared t0: what is posted
// to both targets when, and until when notifications may come.
type scenario struct {
	name string
	// config is the alertmanager.yml; {{URL}} is the target's webhook base.
	// configAt, when set, builds it from t0 instead (time intervals).
	config   string
	configAt func(t0 time.Time) string
	// minuteAt, when set, places t0 so that a minute boundary falls at
	// t0+minuteAt seconds (a time interval ends there).
	minuteAt float64
	steps    []step
	// end is the last second at which a notification may arrive.
	end float64
	// restart is set when a step restarts a Klaxon stage (SIGKILL, then
	// start again); Klaxon then runs as microservices. Alertmanager is not
	// restarted: Klaxon must notify as if nothing had happened.
	restart bool
	// differs names a deliberate difference (the README's table); klaxon
	// then turns Alertmanager's notifications into the ones Klaxon must
	// send instead.
	differs string
	klaxon  func(r *run, am []notification) []notification
}

// step is one action at a second of the timeline.
type step struct {
	at float64
	// do acts on one target; klaxonOnly steps skip Alertmanager.
	do         func(r *run, tg *target) error
	klaxonOnly bool
	what       string
}

// run is one scenario being run.
type run struct {
	t  *testing.T
	t0 time.Time
}

func (r *run) time(sec float64) time.Time {
	return r.t0.Add(time.Duration(sec * float64(time.Second))).UTC()
}

// never marks a time that is not sent (startsAt or endsAt left out).
var never = math.NaN()

// alertSpec is an alert as a sender posts it; times in seconds from t0.
type alertSpec struct {
	labels, annotations map[string]string
	start, end          float64
}

// alert reads "Name k=v k=v" (the first word is the alertname) and the
// start and end in seconds from t0 (never: not sent).
func alert(labels string, start, end float64) alertSpec {
	a := alertSpec{labels: map[string]string{}, annotations: map[string]string{}, start: start, end: end}
	for i, f := range strings.Fields(labels) {
		k, v, ok := strings.Cut(f, "=")
		if !ok && i == 0 {
			k, v = "alertname", f
		}
		a.labels[k] = v
	}
	return a
}

// with adds annotations, "k=v" each.
func (a alertSpec) with(annotations ...string) alertSpec {
	b := a
	b.annotations = map[string]string{}
	for _, kv := range annotations {
		k, v, _ := strings.Cut(kv, "=")
		b.annotations[k] = v
	}
	return b
}

type postable struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     *time.Time        `json:"startsAt,omitempty"`
	EndsAt       *time.Time        `json:"endsAt,omitempty"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

func (r *run) postable(a alertSpec) postable {
	p := postable{Labels: a.labels, Annotations: a.annotations}
	if !math.IsNaN(a.start) {
		s := r.time(a.start)
		p.StartsAt = &s
	}
	if !math.IsNaN(a.end) {
		e := r.time(a.end)
		p.EndsAt = &e
	}
	return p
}

// post sends alerts at a second, as one request, to both targets.
func post(at float64, alerts ...alertSpec) step {
	return step{at: at, what: fmt.Sprintf("post %d alerts", len(alerts)), do: func(r *run, tg *target) error {
		ps := make([]postable, len(alerts))
		for i, a := range alerts {
			ps[i] = r.postable(a)
		}
		_, err := tg.call(http.MethodPost, "/api/v2/alerts", ps, nil)
		return err
	}}
}

// resend re-sends a firing alert as Prometheus does: every `every` seconds
// from `from` until before `to`, each time with endsAt pushed to now + ttl.
func resend(from, to, every, ttl float64, a alertSpec) []step {
	var steps []step
	for at := from; at < to-1e-9; at += every {
		b := a
		b.end = at + ttl
		steps = append(steps, post(at, b))
	}
	return steps
}

// silence creates a silence named name (for expire) with matchers such as
// `n="x"`, `n=~"x|y"`, `n!="x"`, from start to end (seconds from t0).
func silence(at float64, name string, matchers string, start, end float64) step {
	return step{at: at, what: "silence " + name, do: func(r *run, tg *target) error {
		type apiMatcher struct {
			Name    string `json:"name"`
			Value   string `json:"value"`
			IsRegex bool   `json:"isRegex"`
			IsEqual bool   `json:"isEqual"`
		}
		var ms []apiMatcher
		for _, m := range strings.Fields(matchers) {
			for _, op := range []string{"!~", "=~", "!=", "="} {
				if k, v, ok := strings.Cut(m, op); ok {
					ms = append(ms, apiMatcher{Name: k, Value: strings.Trim(v, `"`), IsRegex: strings.Contains(op, "~"), IsEqual: op[0] != '!'})
					break
				}
			}
		}
		body := map[string]any{
			"matchers": ms, "startsAt": r.time(start), "endsAt": r.time(end),
			"createdBy": "conformance", "comment": name,
		}
		var out struct {
			SilenceID string `json:"silenceID"`
		}
		if _, err := tg.call(http.MethodPost, "/api/v2/silences", body, &out); err != nil {
			return err
		}
		tg.mu.Lock()
		tg.silences[name] = out.SilenceID
		tg.mu.Unlock()
		return nil
	}}
}

// expire ends the silence named name now (DELETE /api/v2/silence/{id}).
func expire(at float64, name string) step {
	return step{at: at, what: "expire " + name, do: func(r *run, tg *target) error {
		tg.mu.Lock()
		id := tg.silences[name]
		tg.mu.Unlock()
		_, err := tg.call(http.MethodDelete, "/api/v2/silence/"+id, nil, nil)
		return err
	}}
}

// restart kills a Klaxon stage (SIGKILL) and starts it again; Alertmanager
// carries on untouched.
func restart(at float64, stage string) step {
	return step{at: at, what: "restart " + stage, klaxonOnly: true, do: func(r *run, tg *target) error {
		tg.cluster.Restart(stage)
		return nil
	}}
}

// steps flattens steps and step lists into one timeline, in time order.
func steps(parts ...any) []step {
	var out []step
	for _, p := range parts {
		switch p := p.(type) {
		case step:
			out = append(out, p)
		case []step:
			out = append(out, p...)
		default:
			panic(fmt.Sprintf("steps: %T", p))
		}
	}
	slices.SortStableFunc(out, func(a, b step) int {
		switch {
		case a.at < b.at:
			return -1
		case a.at > b.at:
			return 1
		}
		return 0
	})
	return out
}

// startupLead is the time allowed between starting the targets and t0
// when t0 is placed ahead (minuteAt).
const startupLead = 8 * time.Second

// runScenario starts both targets, plays the timeline on both and compares
// what they notified.
func runScenario(t *testing.T, sc scenario) {
	var t0 time.Time
	config := sc.config
	if sc.minuteAt > 0 {
		boundary := time.Now().Add(startupLead + time.Duration(sc.minuteAt*float64(time.Second))).Truncate(time.Minute).Add(time.Minute)
		t0 = boundary.Add(-time.Duration(sc.minuteAt * float64(time.Second)))
	}
	if sc.configAt != nil {
		config = sc.configAt(t0)
	}
	am := startAlertmanager(t, config)
	kx := startKlaxon(t, config, sc.restart)
	if t0.IsZero() {
		t0 = time.Now().Add(300 * time.Millisecond)
	} else if time.Now().After(t0) {
		t.Fatalf("targets took longer than %v to start", startupLead)
	}
	r := &run{t: t, t0: t0}
	for _, st := range sc.steps {
		time.Sleep(time.Until(r.time(st.at))) // the timeline's clock, not a wait for work
		var wg sync.WaitGroup
		for _, tg := range []*target{am, kx} {
			if st.klaxonOnly && tg != kx {
				continue
			}
			wg.Go(func() {
				if err := st.do(r, tg); err != nil {
					t.Errorf("t=%.1f %s on %s: %v", st.at, st.what, tg.name, err)
				}
			})
		}
		wg.Wait()
		if late := time.Since(r.time(st.at)).Seconds(); late > tolerance.Seconds() && !st.klaxonOnly {
			t.Logf("t=%.1f %s took %.2fs", st.at, st.what, late)
		}
	}
	time.Sleep(time.Until(r.time(sc.end).Add(tolerance))) // the end of the timeline
	want := am.sink.notifications()
	if sc.differs != "" {
		t.Logf("declared difference: %s", sc.differs)
		want = sc.klaxon(r, want)
	}
	compare(t, r, want, kx.sink.notifications())
}
