package grouper_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
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
	nc, js := natstest.Connect(t, url)
	cfg, err := config.Parse([]byte(testConfig), "test.yml")
	if err != nil {
		t.Fatal(err)
	}
	g, err := grouper.New(grouper.Options{Deps: stage.Deps{JS: js, Config: func() *config.Config { return cfg }}, StartDelay: startDelay})
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
	// The group is stored (its state and its alert) before a is killed.
	kv, err := js.KeyValue(t.Context(), contract.BucketGroups)
	if err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 10*time.Second, "the group's state and its alert stored", func() bool {
		keys, err := kv.ListKeys(t.Context())
		if err != nil {
			return false
		}
		n := 0
		for range keys.Keys() {
			n++
		}
		return n == 2
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

// A group is stored as values that do not grow with its alerts: its route
// and timing, one value per alert, and the notification log's state of its
// last notification on a key of its own, written when a flush notifies.
func TestGroupStoredInSmallValues(t *testing.T) {
	nc, js := natstest.Start(t)
	if err := streams.Provision(t.Context(), js, streams.Options{}); err != nil {
		t.Fatal(err)
	}
	startGrouper(t, nc.ConnectedUrl(), 0)
	route(t, js, "A", 0)
	if got := notifications(t, js, 1, 10*time.Second); len(got) != 1 {
		t.Fatalf("%d notifications, want 1", len(got))
	}
	kv, err := js.KeyValue(t.Context(), contract.BucketGroups)
	if err != nil {
		t.Fatal(err)
	}
	id := contract.GroupID("{}", `{}:{alertname="A"}`)
	harness.Eventually(t, 10*time.Second, "the notification state stored", func() bool {
		_, err := kv.Get(t.Context(), id+"."+contract.GroupNotifiedKey)
		return err == nil
	})
	state, err := kv.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(state.Value(), &fields); err != nil {
		t.Fatal(err)
	}
	for _, big := range []string{"alerts", "notified"} {
		if v, ok := fields[big]; ok && string(v) != "null" {
			t.Errorf("the group's state value holds %s: %s", big, v)
		}
	}
}
