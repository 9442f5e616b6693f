package dedup_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/logtest"
	"github.com/klaxon-alerts/klaxon/pkg/natsembed/natstest"
	"github.com/klaxon-alerts/klaxon/pkg/stage"
	"github.com/klaxon-alerts/klaxon/pkg/streams"
	"github.com/klaxon-alerts/klaxon/services/dedup"
	testharness "github.com/klaxon-alerts/klaxon/test/harness"
)

type harness struct {
	js   jetstream.JetStream
	logs *logtest.Buffer
	stop func() // stops dedup as a rolling restart does
}

func start(t *testing.T) *harness { return startWith(t, 0) }

func startWith(t *testing.T, retention time.Duration) *harness {
	t.Helper()
	_, js := natstest.Start(t)
	ctx := t.Context()
	if err := streams.Provision(ctx, js, streams.Options{}); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte("global:\n  resolve_timeout: 1m\nroute:\n  receiver: r\nreceivers:\n  - name: r\n"), "test.yml")
	if err != nil {
		t.Fatal(err)
	}
	logger, logs := logtest.New()
	d, err := dedup.New(dedup.Options{Deps: stage.Deps{JS: js, Logger: logger, Config: func() *config.Config { return cfg }}, Retention: retention})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	runCtx, cancel := contextWithCancel(t)
	wg.Go(func() {
		// Stopped by the cleanup while still subscribing, Run says so with
		// an error; only an error before that is the stage's.
		if err := d.Run(runCtx); err != nil && runCtx.Err() == nil {
			t.Errorf("dedup.Run: %v", err)
		}
	})
	stop := func() { cancel(); wg.Wait() }
	t.Cleanup(stop)
	return &harness{js: js, logs: logs, stop: stop}
}

func (h *harness) publish(t *testing.T, body string) {
	t.Helper()
	if _, err := h.js.Publish(t.Context(), contract.SubjectAlertsIn, []byte(body)); err != nil {
		t.Fatal(err)
	}
}

// changes reads every AlertChanged published so far, waiting until at least
// want arrived (or the deadline), then a little longer only if more could come.
func (h *harness) changes(t *testing.T, want int) []contract.AlertChanged {
	t.Helper()
	cons, err := h.js.OrderedConsumer(t.Context(), contract.StreamAlerts, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{contract.SubjectAlertsChanged},
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []contract.AlertChanged
	deadline := time.Now().Add(15 * time.Second)
	for len(out) < want && time.Now().Before(deadline) {
		msg, err := cons.Next(jetstream.FetchMaxWait(time.Until(deadline)))
		if err != nil {
			break
		}
		var ev contract.AlertChanged
		if err := json.Unmarshal(msg.Data(), &ev); err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

// inputDrained waits until dedup took in everything published: the input
// is a work queue, so its stream is then empty.
func (h *harness) inputDrained(t *testing.T) {
	t.Helper()
	testharness.Eventually(t, 15*time.Second, "input drained", func() bool {
		s, err := h.js.Stream(t.Context(), contract.StreamInput)
		return err == nil && s.CachedInfo().State.Msgs == 0
	})
}

// count is the number of messages stored on subject.
func (h *harness) count(t *testing.T, subject string) uint64 {
	t.Helper()
	s, err := h.js.Stream(t.Context(), contract.StreamAlerts)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context(), jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects[subject]
}

func alertJSON(name string, start, end time.Time, summary string) string {
	return fmt.Sprintf(`{"labels":{"alertname":%q},"annotations":{"summary":%q},"startsAt":%q,"endsAt":%q}`,
		name, summary, start.Format(time.RFC3339Nano), end.Format(time.RFC3339Nano))
}

// Refreshes and HA twins change nothing; only real changes are emitted, and
// an alert nobody refreshes resolves once when its end passes.
func TestLifecycle(t *testing.T) {
	h := start(t)
	now := time.Now()
	// One at a time: dedup handles messages concurrently, and the order of
	// receipt decides which state is the newer.
	for _, body := range []string{
		alertJSON("A", now, now.Add(time.Hour), "s"),
		alertJSON("A", now, now.Add(time.Hour), "s"),         // HA twin
		alertJSON("A", now, now.Add(2*time.Hour), "s"),       // refresh
		alertJSON("A", now, now.Add(2*time.Hour), "changed"), // annotations changed
		alertJSON("B", now, time.Now().Add(1500*time.Millisecond), "expires"),
	} {
		h.publish(t, body)
		h.inputDrained(t)
	}
	got := h.changes(t, 4)
	if len(got) < 4 {
		t.Fatalf("got %d changes, want 4: %+v", len(got), got)
	}
	kinds := map[string][]string{}
	for _, ev := range got {
		kinds[string(ev.Alert.Labels["alertname"])] = append(kinds[string(ev.Alert.Labels["alertname"])], string(ev.Change))
	}
	if fmt.Sprint(kinds["A"]) != "[new updated]" {
		t.Errorf("A changes = %v, want [new updated]", kinds["A"])
	}
	if fmt.Sprint(kinds["B"]) != "[new resolved]" {
		t.Errorf("B changes = %v, want [new resolved] (expiry at endsAt)", kinds["B"])
	}
	h.inputDrained(t)
	if n := h.count(t, contract.SubjectAlertsChanged); n != 4 {
		t.Errorf("%d changes on %s once dedup drained, want 4", n, contract.SubjectAlertsChanged)
	}
}

// An invalid alert of an array is dead-lettered alone; the valid ones go on.
func TestBatchWithInvalidAlert(t *testing.T) {
	h := start(t)
	now := time.Now()
	h.publish(t, "["+alertJSON("Good", now, now.Add(time.Hour), "")+`,{"labels":{}}]`)
	got := h.changes(t, 1)
	if len(got) != 1 || got[0].Alert.Labels["alertname"] != "Good" {
		t.Fatalf("changes = %+v", got)
	}
	cons, err := h.js.OrderedConsumer(t.Context(), contract.StreamDLQ, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
	if err != nil {
		t.Fatalf("no dead letter: %v", err)
	}
	var dl contract.DeadLetter
	if err := json.Unmarshal(msg.Data(), &dl); err != nil {
		t.Fatal(err)
	}
	if dl.Stage != contract.StageDedup || string(dl.Payload) != `{"labels":{}}` {
		t.Fatalf("dead letter = %+v payload %s", dl, dl.Payload)
	}
}

// A resolved alert is removed from KV once the retention after its end has
// passed, as Alertmanager's GC removes resolved alerts.
func TestResolvedAlertForgotten(t *testing.T) {
	h := startWith(t, 500*time.Millisecond)
	kv, err := h.js.KeyValue(t.Context(), contract.BucketAlerts)
	if err != nil {
		t.Fatal(err)
	}
	// Every write of the bucket from now on, in order.
	w, err := kv.WatchAll(t.Context(), jetstream.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Stop() }()
	now := time.Now()
	h.publish(t, alertJSON("Gone", now.Add(-time.Minute), now, ""))
	var ops []string
	timeout := time.After(15 * time.Second)
	for len(ops) < 2 {
		select {
		case e := <-w.Updates():
			if e != nil {
				ops = append(ops, e.Operation().String())
			}
		case <-timeout:
			t.Fatalf("bucket writes %v, want the alert stored, then removed", ops)
		}
	}
	if ops[0] != jetstream.KeyValuePut.String() || ops[1] != jetstream.KeyValueDelete.String() {
		t.Fatalf("bucket writes %v, want the alert stored, then removed", ops)
	}
}

// A batch's alerts are merged concurrently, but the posts of one alert in
// the batch in the order they came: firing then resolved ends resolved.
func TestBatchKeepsTheOrderOfOneAlert(t *testing.T) {
	h := start(t)
	now := time.Now()
	var batch []string
	for i := range 20 {
		batch = append(batch, alertJSON(fmt.Sprint("Other", i), now, now.Add(time.Hour), ""))
	}
	batch = append(batch, alertJSON("Flap", now.Add(-time.Minute), now.Add(time.Hour), "firing"),
		alertJSON("Flap", now.Add(-time.Minute), now, "resolved"))
	h.publish(t, "["+strings.Join(batch, ",")+"]")
	h.inputDrained(t)
	var flap []contract.AlertChanged
	for _, ev := range h.changes(t, 22) { // 20 others, Flap new and resolved
		if ev.Alert.Labels["alertname"] == "Flap" {
			flap = append(flap, ev)
		}
	}
	if len(flap) == 0 || !flap[len(flap)-1].Alert.ResolvedAt(now.Add(time.Second)) || flap[len(flap)-1].Alert.Annotations["summary"] != "resolved" {
		t.Fatalf("Flap's changes %+v, want it to end resolved by the later post", flap)
	}
}

// An alert's value is written only once its change event is stored: while
// the history stream refuses the event, the bucket gets nothing, so that a
// new owner of the partition, loading the bucket, would emit the change
// again instead of taking the alert for emitted.
func TestValueWrittenOnlyAfterItsEvent(t *testing.T) {
	h := start(t)
	ctx := t.Context()
	s, err := h.js.Stream(ctx, contract.StreamAlerts)
	if err != nil {
		t.Fatal(err)
	}
	full := s.CachedInfo().Config
	full.MaxMsgs, full.Discard = 1, jetstream.DiscardNew
	if _, err := h.js.UpdateStream(ctx, full); err != nil {
		t.Fatal(err)
	}
	if _, err := h.js.Publish(ctx, contract.SubjectAlertsChanged, []byte("{}")); err != nil { // fills it
		t.Fatal(err)
	}
	now := time.Now()
	h.publish(t, alertJSON("A", now, now.Add(time.Hour), ""))
	testharness.Eventually(t, 15*time.Second, "a checkpoint refused", func() bool {
		return strings.Contains(h.logs.String(), "checkpoint failed")
	})
	kv, err := h.js.KeyValue(ctx, contract.BucketAlerts)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for k := range keys.Keys() {
		t.Errorf("alert %s stored while its change event was refused", k)
	}
	full.MaxMsgs = -1
	if _, err := h.js.UpdateStream(ctx, full); err != nil {
		t.Fatal(err)
	}
	h.inputDrained(t)
	if n := h.count(t, contract.SubjectAlertsChanged); n != 2 {
		t.Errorf("%d messages on %s once the stream takes them, want the filler and the change", n, contract.SubjectAlertsChanged)
	}
	testharness.Eventually(t, 15*time.Second, "the alert stored", func() bool {
		keys, err := kv.Keys(ctx)
		return err == nil && len(keys) == 1
	})
}

// A re-send that only moves endsAt later (every Prometheus re-send) is not
// written at once: the stored value stays right until its end. It is
// written when a sync marker comes (the API's reads), before the stored end
// is near, and when the partition is handed back.
func TestMovedEndWrittenOnlyWhenNeeded(t *testing.T) {
	h := start(t)
	ctx := t.Context()
	kv, err := h.js.KeyValue(ctx, contract.BucketAlerts)
	if err != nil {
		t.Fatal(err)
	}
	storedEnd := func(name string) time.Time {
		e, err := kv.Get(ctx, model.LabelSet{"alertname": model.LabelValue(name)}.Fingerprint().String())
		if err != nil {
			return time.Time{}
		}
		var s contract.StoredAlert
		if err := json.Unmarshal(e.Value(), &s); err != nil {
			t.Fatal(err)
		}
		return s.EndsAt
	}
	sync := func(name string) {
		m := nats.NewMsg(contract.AlertsInSubject(contract.PartitionOf(model.LabelSet{"alertname": model.LabelValue(name)}.Fingerprint().String())))
		m.Header.Set(contract.HeaderSync, "1")
		if _, err := h.js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().Truncate(time.Second)
	end := func(d time.Duration) time.Time { return now.Add(d) }

	h.publish(t, alertJSON("A", now, end(10*time.Minute), "s"))
	h.inputDrained(t)
	if got := storedEnd("A"); !got.Equal(end(10 * time.Minute)) {
		t.Fatalf("new alert stored with end %v", got)
	}
	h.publish(t, alertJSON("A", now, end(20*time.Minute), "s"))
	h.publish(t, alertJSON("A", now, end(30*time.Minute), "s"))
	h.inputDrained(t)
	if got := storedEnd("A"); !got.Equal(end(10 * time.Minute)) {
		t.Fatalf("re-sends that moved only the end were written: stored end %v", got)
	}
	sync("A")
	h.inputDrained(t)
	if got := storedEnd("A"); !got.Equal(end(30 * time.Minute)) {
		t.Fatalf("after a sync marker the stored end is %v, want the latest", got)
	}

	// The stored end is near: written before it passes.
	h.publish(t, alertJSON("B", now, time.Now().Add(dedup.WriteAhead+2*time.Second), "s"))
	h.inputDrained(t)
	h.publish(t, alertJSON("B", now, end(time.Hour), "s"))
	testharness.Eventually(t, 15*time.Second, "the moved end written before the stored one passes", func() bool {
		return storedEnd("B").Equal(end(time.Hour))
	})

	// Handed back (a rolling restart): the last checkpoint writes it.
	h.publish(t, alertJSON("A", now, end(40*time.Minute), "s"))
	h.inputDrained(t)
	h.stop()
	if got := storedEnd("A"); !got.Equal(end(40 * time.Minute)) {
		t.Fatalf("after a hand-back the stored end is %v, want the latest", got)
	}
	if n := h.count(t, contract.SubjectAlertsChanged); n != 2 {
		t.Errorf("%d change events, want A's and B's only", n)
	}
}
