package grouper_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/natsembed/natstest"
	"github.com/klaxon-alerts/klaxon/pkg/stage"
	"github.com/klaxon-alerts/klaxon/pkg/streams"
	"github.com/klaxon-alerts/klaxon/services/grouper"
	"github.com/klaxon-alerts/klaxon/test/harness"
)

const testConfig = `
route:
  receiver: hook
receivers:
  - name: hook
    webhook_configs:
      - url: http://127.0.0.1:1/
`

// replica is one grouper process: its own connection and its own run.
type replica struct {
	cancel context.CancelFunc
	done   chan struct{}
	close  func()
}

func startGrouper(t *testing.T, url string, startDelay time.Duration) *replica {
	t.Helper()
	return startGrouperWith(t, url, startDelay, nil)
}

// startGrouperWith starts a grouper that registers its metrics with reg.
func startGrouperWith(t *testing.T, url string, startDelay time.Duration, reg prometheus.Registerer) *replica {
	t.Helper()
	nc, js := natstest.Connect(t, url)
	cfg, err := config.Parse([]byte(testConfig), "test.yml")
	if err != nil {
		t.Fatal(err)
	}
	g, err := grouper.New(grouper.Options{Deps: stage.Deps{JS: js, Config: func() *config.Config { return cfg }, Registerer: reg}, StartDelay: startDelay})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &replica{cancel: cancel, done: make(chan struct{}), close: nc.Close}
	go func() {
		defer close(r.done)
		_ = g.Run(ctx)
	}()
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { cancel(); <-r.done }) })
	harness.Eventually(t, 10*time.Second, "grouper ready", func() bool { return g.Ready() == nil })
	return r
}

// route publishes one routed alert of the group {alertname=name}.
func route(t *testing.T, js jetstream.JetStream, name string, wait time.Duration) {
	t.Helper()
	now := time.Now()
	a := alert.Alert{Labels: model.LabelSet{"alertname": model.LabelValue(name)}, StartsAt: now, EndsAt: now.Add(time.Hour), UpdatedAt: now}
	rt := contract.Route{
		ID: "{}", Receiver: "hook", GroupKey: `{}:{alertname="` + name + `"}`, GroupLabels: model.LabelSet{"alertname": model.LabelValue(name)},
		GroupWait: model.Duration(wait), GroupInterval: model.Duration(time.Minute), RepeatInterval: model.Duration(time.Hour),
	}
	body, _ := json.Marshal(contract.AlertRouted{Version: contract.Version, Change: alert.ChangeNew, Fingerprint: a.Fingerprint().String(), Alert: a, Route: rt})
	subject := contract.AlertsRoutedSubject(contract.PartitionOf(contract.GroupID(rt.ID, rt.GroupKey)))
	if _, err := js.Publish(t.Context(), subject, body); err != nil {
		t.Fatal(err)
	}
}

// notifications waits for want notifications and returns when each came.
func notifications(t *testing.T, js jetstream.JetStream, want int, within time.Duration) []time.Time {
	t.Helper()
	cons, err := js.OrderedConsumer(t.Context(), contract.StreamNotify, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var at []time.Time
	deadline := time.Now().Add(within)
	for len(at) < want && time.Now().Before(deadline) {
		msg, err := cons.Next(jetstream.FetchMaxWait(time.Until(deadline)))
		if err != nil {
			break
		}
		md, _ := msg.Metadata()
		at = append(at, md.Timestamp)
	}
	return at
}

// A group's pending flush survives the replica that held it: killed
// (its connection gone, nothing handed back), another replica takes the
// partition over, loads the group and flushes it when due.
func TestGroupFlushedByTheReplicaThatTakesOver(t *testing.T) {
	nc, js := natstest.Start(t)
	if err := streams.Provision(t.Context(), js, streams.Options{}); err != nil {
		t.Fatal(err)
	}
	a := startGrouper(t, nc.ConnectedUrl(), 0)
	route(t, js, "A", 3*time.Second)
	// The group is stored (one value, with its alert) before a is killed.
	kv, err := js.KeyValue(t.Context(), contract.BucketGroups)
	if err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 10*time.Second, "the group stored with its alert", func() bool {
		e, err := kv.Get(t.Context(), contract.GroupID("{}", `{}:{alertname="A"}`))
		return err == nil && strings.Contains(string(e.Value()), `"alerts":{"`)
	})
	a.close() // kill -9: the connection drops
	start := time.Now()
	startGrouper(t, nc.ConnectedUrl(), 0)
	got := notifications(t, js, 1, 10*time.Second)
	if len(got) != 1 {
		t.Fatalf("%d notifications after the takeover, want the group's one", len(got))
	}
	t.Logf("flushed %v after the takeover began", got[0].Sub(start).Round(time.Millisecond))
}

// --dispatch.start-delay: no flush before the grouper ran that long, then
// the due groups flush.
func TestStartDelayHoldsFlushes(t *testing.T) {
	nc, js := natstest.Start(t)
	if err := streams.Provision(t.Context(), js, streams.Options{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	startGrouper(t, nc.ConnectedUrl(), 2*time.Second)
	route(t, js, "A", 0)
	got := notifications(t, js, 1, 10*time.Second)
	if len(got) != 1 {
		t.Fatalf("%d notifications, want 1 after the start delay", len(got))
	}
	if d := got[0].Sub(start); d < 2*time.Second {
		t.Fatalf("flushed %v after the start, before the 2s start delay", d)
	}
}

// klaxon_grouper_flush_lateness_seconds measures from a flush's tick (here
// group_wait, 1s, after the group began) to its notifications stored, not
// from the group's start.
func TestFlushLatenessFromItsTick(t *testing.T) {
	nc, js := natstest.Start(t)
	if err := streams.Provision(t.Context(), js, streams.Options{}); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	startGrouperWith(t, nc.ConnectedUrl(), 0, reg)
	route(t, js, "A", time.Second)
	if got := notifications(t, js, 1, 10*time.Second); len(got) != 1 {
		t.Fatalf("%d notifications, want 1", len(got))
	}
	var h *dto.Histogram
	harness.Eventually(t, 5*time.Second, "the flush observed", func() bool {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "klaxon_grouper_flush_lateness_seconds" {
				h = mf.GetMetric()[0].GetHistogram()
			}
		}
		return h.GetSampleCount() > 0
	})
	if n, sum := h.GetSampleCount(), h.GetSampleSum(); n != 1 || sum < 0 || sum >= 1 {
		t.Fatalf("lateness: %d samples summing to %gs, want one under a second (from the tick, not the group's start)", n, sum)
	}
}

// A small group is one stored value (route, timing, alerts, notification
// state): a new group costs one write. A group that outgrows it is split
// for good into values that do not grow with its alerts: its route and
// timing, one value per alert, and the notification log's state of its last
// notification on a key of its own.
func TestGroupStoredInSmallValues(t *testing.T) {
	nc, js := natstest.Start(t)
	if err := streams.Provision(t.Context(), js, streams.Options{}); err != nil {
		t.Fatal(err)
	}
	first := startGrouper(t, nc.ConnectedUrl(), 0)
	kv, err := js.KeyValue(t.Context(), contract.BucketGroups)
	if err != nil {
		t.Fatal(err)
	}
	keysOf := func(id string) (keys []string) {
		all, err := kv.Keys(t.Context())
		if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
			t.Fatal(err)
		}
		for _, k := range all {
			if k == id || strings.HasPrefix(k, id+".") {
				keys = append(keys, k)
			}
		}
		return keys
	}
	stateOf := func(id string) map[string]json.RawMessage {
		e, err := kv.Get(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(e.Value(), &fields); err != nil {
			t.Fatal(err)
		}
		return fields
	}

	route(t, js, "A", 0)
	if got := notifications(t, js, 1, 10*time.Second); len(got) != 1 {
		t.Fatalf("%d notifications, want 1", len(got))
	}
	small := contract.GroupID("{}", `{}:{alertname="A"}`)
	harness.Eventually(t, 10*time.Second, "the notified group stored", func() bool {
		_, err := kv.Get(t.Context(), small)
		return err == nil && string(stateOf(small)["notified"]) != ""
	})
	if keys := keysOf(small); len(keys) != 1 {
		t.Errorf("a one-alert group is stored as %v, want one value", keys)
	}

	// 60 alerts of ~200 bytes: past the one value's bound.
	const n = 60
	for i := range n {
		routeLabel(t, js, "B", fmt.Sprintf("instance-%03d-%s", i, strings.Repeat("x", 150)))
	}
	big := contract.GroupID("{}", `{}:{alertname="B"}`)
	harness.Eventually(t, 10*time.Second, "the big group split", func() bool {
		return len(keysOf(big)) == 1+n+1 // state, alerts, notification state
	})
	for _, field := range []string{"alerts", "notified"} {
		if v, ok := stateOf(big)[field]; ok && string(v) != "null" {
			t.Errorf("the split group's state value holds %s: %.80s", field, v)
		}
	}

	// A new owner loads the split group whole: one more alert, and the
	// next notification holds all of them.
	first.close()
	startGrouper(t, nc.ConnectedUrl(), 0)
	routeLabel(t, js, "B", "one-more")
	cons, err := js.OrderedConsumer(t.Context(), contract.StreamNotify, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 20*time.Second, "a notification of the loaded group with every alert", func() bool {
		msg, err := cons.Next(jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return false
		}
		var note contract.Notification
		return json.Unmarshal(msg.Data(), &note) == nil && note.GroupID == big && len(note.Alerts) == n+1
	})
}

// routeLabel publishes one routed alert {alertname=name, instance=instance}
// of the group {alertname=name}: no group_wait, a group_interval of 1s.
func routeLabel(t *testing.T, js jetstream.JetStream, name, instance string) {
	t.Helper()
	now := time.Now()
	a := alert.Alert{Labels: model.LabelSet{"alertname": model.LabelValue(name), "instance": model.LabelValue(instance)}, StartsAt: now, EndsAt: now.Add(time.Hour), UpdatedAt: now}
	rt := contract.Route{
		ID: "{}", Receiver: "hook", GroupKey: `{}:{alertname="` + name + `"}`, GroupLabels: model.LabelSet{"alertname": model.LabelValue(name)},
		GroupInterval: model.Duration(time.Second), RepeatInterval: model.Duration(time.Hour),
	}
	body, _ := json.Marshal(contract.AlertRouted{Version: contract.Version, Change: alert.ChangeNew, Fingerprint: a.Fingerprint().String(), Alert: a, Route: rt})
	if _, err := js.Publish(t.Context(), contract.AlertsRoutedSubject(contract.PartitionOf(contract.GroupID(rt.ID, rt.GroupKey))), body); err != nil {
		t.Fatal(err)
	}
}
