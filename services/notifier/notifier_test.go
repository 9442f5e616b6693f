package notifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klaxon-alerts/klaxon/pkg/logtest"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/bus"
	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/fault"
	"github.com/klaxon-alerts/klaxon/pkg/natsembed/natstest"
	"github.com/klaxon-alerts/klaxon/pkg/nflog"
	"github.com/klaxon-alerts/klaxon/pkg/stage"
	"github.com/klaxon-alerts/klaxon/pkg/streams"
	"github.com/klaxon-alerts/klaxon/services/notifier/nflogstore"
	"github.com/klaxon-alerts/klaxon/services/notifier/notification"
	"github.com/klaxon-alerts/klaxon/services/notifier/webhook"
)

// t0 is the first flush of every timeline. Flush times are the grouper's,
// not the wall clock's: the notifier must judge at them.
var t0 = time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)

const (
	repeatInterval = 4 * time.Hour
	groupKey       = `{}:{alertname="HighLatency"}`
	// secretToken is in the webhook URL's path: never in logs or dead letters.
	secretToken = "s3cr3t-webhook-token"
)

// call is one webhook request the receiver saw.
type call struct {
	Receiver           string            `json:"receiver"`
	Status             string            `json:"status"`
	NotificationReason string            `json:"notification_reason"`
	GroupKey           string            `json:"groupKey"`
	GroupLabels        map[string]string `json:"groupLabels"`
	Alerts             []struct {
		Status string            `json:"status"`
		Labels map[string]string `json:"labels"`
	} `json:"alerts"`
}

func (c call) instances() string {
	var s []string
	for _, a := range c.Alerts {
		s = append(s, a.Labels["instance"]+":"+a.Status)
	}
	return strings.Join(s, ",")
}

// receiver is an httptest webhook receiver answering with scripted statuses
// (the last one repeats) and recording every call.
type receiver struct {
	srv *httptest.Server

	mu       sync.Mutex
	calls    []call
	statuses []int
	// onCall, if set, runs before answering (with the call's index).
	onCall func(i int)
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	t.Helper()
	r := &receiver{statuses: statuses}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var c call
		if err := json.Unmarshal(body, &c); err != nil {
			t.Errorf("webhook body is not the payload: %v", err)
		}
		r.mu.Lock()
		r.calls = append(r.calls, c)
		i := len(r.calls) - 1
		status := http.StatusOK
		if len(r.statuses) > 0 {
			status = r.statuses[min(i, len(r.statuses)-1)]
		}
		onCall := r.onCall
		r.mu.Unlock()
		if onCall != nil {
			onCall(i)
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, "answer for %s", req.URL.Path) // echoes the secret path
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) Calls() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

func (r *receiver) url() string { return r.srv.URL + "/hooks/" + secretToken }

// running is a notifier against embedded NATS.
type running struct {
	js   jetstream.JetStream
	reg  *prometheus.Registry
	logs *logtest.Buffer
	// crashed is set by a test that cut the notifier's connection: Run may
	// then end with an error.
	crashed atomic.Bool
	cfg     *config.Config
}

// startStage provisions the streams, starts the notifier with a config of
// one receiver "team" whose webhook posts to url, and stops it (checking
// that Run returns nil) when the test ends.
func startStage(t *testing.T, url string, sendResolved bool, tune ...func(*Options)) *running {
	t.Helper()
	yml := fmt.Sprintf(`
route:
  receiver: team
receivers:
  - name: team
    webhook_configs:
      - url: %q
        send_resolved: %v
`, url, sendResolved)
	return startStageConfig(t, yml, tune...)
}

// startStageConfig starts the notifier with the configuration yml.
func startStageConfig(t *testing.T, yml string, tune ...func(*Options)) *running {
	t.Helper()
	_, js := natstest.Start(t)
	if err := streams.Provision(t.Context(), js, streams.Options{}); err != nil {
		t.Fatalf("provision: %v", err)
	}
	return startOn(t, js, yml, tune...)
}

// startOn starts a notifier with the configuration yml over js, whose
// streams are provisioned.
func startOn(t *testing.T, js jetstream.JetStream, yml string, tune ...func(*Options)) *running {
	t.Helper()
	cfg, err := config.Parse([]byte(yml), "test.yml")
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	s := &running{js: js, reg: prometheus.NewRegistry(), logs: &logtest.Buffer{}, cfg: cfg}
	opts := Options{
		Deps: stage.Deps{
			JS:         js,
			Config:     func() *config.Config { return cfg },
			Logger:     slog.New(slog.NewTextHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			Registerer: s.reg,
		},
		ExternalURL: "http://klaxon.example",
		Subscriber: bus.SubscriberConfig{
			// In stream order, so a timeline reads top to bottom.
			Concurrency: 1,
			MaxDeliver:  5,
			Backoff:     func(int) time.Duration { return 20 * time.Millisecond },
		},
	}
	for _, f := range tune {
		f(&opts)
	}
	n, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !s.crashed.Load() {
				t.Errorf("Run returned %v, want nil on cancel", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
		if strings.Contains(s.logs.String(), secretToken) {
			t.Errorf("logs leak the webhook URL")
		}
	})
	return s
}

// alertAt is alert instance firing from t0-1h, resolved at endsAt (zero:
// no end).
func alertAt(instance string, endsAt time.Time) alert.Alert {
	return alert.Alert{
		Labels:   model.LabelSet{"alertname": "HighLatency", "instance": model.LabelValue(instance)},
		StartsAt: t0.Add(-time.Hour),
		EndsAt:   endsAt,
	}
}

func firingAlert(instance string) alert.Alert { return alertAt(instance, time.Time{}) }

// publish sends one flush of the group as the grouper does (without a
// Nats-Msg-Id, so that a re-publish is a second delivery, like a redelivery).
func (s *running) publish(t *testing.T, receiver string, seq uint64, at time.Time, alerts ...alert.Alert) {
	t.Helper()
	s.publishTo(t, contract.Integration{Receiver: receiver, Type: "webhook"}, seq, at, alerts...)
}

// publishTo sends one flush of the group to one integration.
func (s *running) publishTo(t *testing.T, in contract.Integration, seq uint64, at time.Time, alerts ...alert.Alert) {
	t.Helper()
	body, err := json.Marshal(contract.Notification{
		Version:        contract.Version,
		Integration:    in,
		GroupID:        "g1",
		GroupKey:       groupKey,
		GroupLabels:    model.LabelSet{"alertname": "HighLatency"},
		Alerts:         alerts,
		RepeatInterval: model.Duration(repeatInterval),
		FlushSeq:       seq,
		FlushedAt:      at,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.publishRawTo(t, in.Type, body)
}

func (s *running) publishRaw(t *testing.T, body []byte) {
	t.Helper()
	s.publishRawTo(t, "webhook", body)
}

func (s *running) publishRawTo(t *testing.T, integration string, body []byte) {
	t.Helper()
	if _, err := s.js.Publish(t.Context(), contract.NotifySubject(integration), body); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

// waitFor polls cond until it holds or 15s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (s *running) counter(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := s.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var total float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metrics
				}
			}
			total += m.GetCounter().GetValue()
		}
	}
	return total
}

func (s *running) histogramCount(t *testing.T, name string) uint64 {
	t.Helper()
	mfs, err := s.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				n += m.GetHistogram().GetSampleCount()
			}
		}
	}
	return n
}

// waitCounter waits until a counter reaches want.
func (s *running) waitCounter(t *testing.T, want float64, name string, labels ...string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%s%v = %v", name, labels, want), func() bool { return s.counter(t, name, labels...) >= want })
	if got := s.counter(t, name, labels...); got != want {
		t.Fatalf("%s%v = %v, want %v", name, labels, got, want)
	}
}

// waitCalls waits for n webhook calls and checks no more arrived.
func waitCalls(t *testing.T, r *receiver, n int) []call {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d webhook calls", n), func() bool { return len(r.Calls()) >= n })
	calls := r.Calls()
	if len(calls) != n {
		t.Fatalf("%d webhook calls, want %d: %+v", len(calls), n, calls)
	}
	return calls
}

func wantCall(t *testing.T, c call, status, reason, instances string) {
	t.Helper()
	if c.Status != status || c.NotificationReason != reason || c.instances() != instances || c.GroupKey != groupKey || c.Receiver != "team" {
		t.Fatalf("call %+v (instances %s), want status %s reason %q instances %s", c, c.instances(), status, reason, instances)
	}
}

// TestTimeline walks one group through every DedupStage rule, with
// send_resolved. Each suppressed flush is awaited on its metric, then the
// count of webhook calls is checked unchanged.
func TestTimeline(t *testing.T) {
	r := newReceiver(t)
	s := startStage(t, r.url(), true)
	const suppressed = "klaxon_notifications_suppressed_total"

	// t=0: A fires → first notification.
	s.publish(t, "team", 1, t0, firingAlert("a"))
	calls := waitCalls(t, r, 1)
	wantCall(t, calls[0], "firing", "first notification", "a:firing")

	// t=1m: unchanged, before repeat_interval → suppressed.
	s.publish(t, "team", 2, t0.Add(time.Minute), firingAlert("a"))
	s.waitCounter(t, 1, suppressed, "reason", "no_change")
	waitCalls(t, r, 1)

	// Flush 1 delivered again → already notified, no second send.
	s.publish(t, "team", 1, t0, firingAlert("a"))
	s.waitCounter(t, 1, suppressed, "reason", "already_notified")
	waitCalls(t, r, 1)

	// t=2m: B joins → new alerts added.
	s.publish(t, "team", 3, t0.Add(2*time.Minute), firingAlert("a"), firingAlert("b"))
	calls = waitCalls(t, r, 2)
	wantCall(t, calls[1], "firing", "new alerts added", "a:firing,b:firing")

	// Exactly repeat_interval after the last notification: not yet.
	tRepeat := t0.Add(2*time.Minute + repeatInterval)
	s.publish(t, "team", 4, tRepeat, firingAlert("a"), firingAlert("b"))
	s.waitCounter(t, 2, suppressed, "reason", "no_change")
	// One group_interval later: repeat.
	s.publish(t, "team", 5, tRepeat.Add(5*time.Minute), firingAlert("a"), firingAlert("b"))
	calls = waitCalls(t, r, 3)
	wantCall(t, calls[2], "firing", "repeat interval elapsed", "a:firing,b:firing")

	// A resolves (judged at the flush time: its end is before the flush).
	tA := tRepeat.Add(7 * time.Minute)
	s.publish(t, "team", 6, tA.Add(time.Minute), alertAt("a", tA), firingAlert("b"))
	calls = waitCalls(t, r, 4)
	wantCall(t, calls[3], "firing", "some alerts resolved", "a:resolved,b:firing")

	// B resolves too → all resolved.
	s.publish(t, "team", 7, tA.Add(6*time.Minute), alertAt("a", tA), alertAt("b", tA.Add(5*time.Minute)))
	calls = waitCalls(t, r, 5)
	wantCall(t, calls[4], "resolved", "all alerts resolved", "a:resolved,b:resolved")

	// Flush 6 delivered late: without the log's flush sequence it would read
	// as a first notification (B firing after an all-resolved entry).
	s.publish(t, "team", 6, tA.Add(time.Minute), alertAt("a", tA), firingAlert("b"))
	s.waitCounter(t, 2, suppressed, "reason", "already_notified")
	waitCalls(t, r, 5)

	// Still all resolved → nothing more.
	s.publish(t, "team", 8, tA.Add(11*time.Minute), alertAt("a", tA), alertAt("b", tA.Add(5*time.Minute)))
	s.waitCounter(t, 3, suppressed, "reason", "no_change")

	// A fires again → a new sequence: first notification.
	s.publish(t, "team", 9, tA.Add(16*time.Minute), firingAlert("a"))
	calls = waitCalls(t, r, 6)
	wantCall(t, calls[5], "firing", "first notification", "a:firing")

	s.waitCounter(t, 6, "klaxon_notifications_total", "integration", "webhook")
	s.waitCounter(t, 2, "klaxon_notifications_total", "reason", "first_notification")
	if got := s.counter(t, "klaxon_notifications_failed_total"); got != 0 {
		t.Errorf("failed = %v", got)
	}
	if got := s.histogramCount(t, "klaxon_notification_latency_seconds"); got != 6 {
		t.Errorf("latency observations = %d, want 6", got)
	}
}

// TestSendResolvedFalse: resolved alerts are dropped from what is sent; an
// all-resolved flush sends nothing but clears the log, so the next firing
// is a first notification again.
func TestSendResolvedFalse(t *testing.T) {
	r := newReceiver(t)
	s := startStage(t, r.url(), false)
	const suppressed = "klaxon_notifications_suppressed_total"

	s.publish(t, "team", 1, t0, firingAlert("a"), firingAlert("b"))
	calls := waitCalls(t, r, 1)
	wantCall(t, calls[0], "firing", "first notification", "a:firing,b:firing")

	// A resolves: not news without send_resolved.
	tA := t0.Add(time.Minute)
	s.publish(t, "team", 2, tA.Add(time.Minute), alertAt("a", tA), firingAlert("b"))
	s.waitCounter(t, 1, suppressed, "reason", "no_change")

	// C joins while A is resolved: A is not sent.
	s.publish(t, "team", 3, tA.Add(2*time.Minute), alertAt("a", tA), firingAlert("b"), firingAlert("c"))
	calls = waitCalls(t, r, 2)
	wantCall(t, calls[1], "firing", "new alerts added", "b:firing,c:firing")

	// All resolved: due, nothing left to send, the log is updated.
	s.publish(t, "team", 4, tA.Add(3*time.Minute), alertAt("a", tA), alertAt("b", tA), alertAt("c", tA))
	s.waitCounter(t, 1, suppressed, "reason", "resolved_not_sent")
	waitCalls(t, r, 2)

	// B fires again: the log was cleared, so this is a first notification.
	s.publish(t, "team", 5, tA.Add(4*time.Minute), firingAlert("b"))
	calls = waitCalls(t, r, 3)
	wantCall(t, calls[2], "firing", "first notification", "b:firing")
}

// TestRetryThenDelivered: a 5xx is retried (the message nacked and
// redelivered), the 200 that follows delivers once, and a later delivery
// of the same flush sends nothing.
func TestRetryThenDelivered(t *testing.T) {
	r := newReceiver(t, http.StatusServiceUnavailable, http.StatusOK)
	s := startStage(t, r.url(), true)

	s.publish(t, "team", 1, t0, firingAlert("a"))
	calls := waitCalls(t, r, 2)
	wantCall(t, calls[0], "firing", "first notification", "a:firing")
	wantCall(t, calls[1], "firing", "first notification", "a:firing")
	s.waitCounter(t, 1, "klaxon_notifications_total")
	s.waitCounter(t, 1, "klaxon_notifications_failed_total", "integration", "webhook", "reason", "server_error")
	s.waitCounter(t, 1, "klaxon_messages_processed_total", "stage", "notifier", "outcome", "retry")
	s.waitCounter(t, 1, "klaxon_messages_processed_total", "stage", "notifier", "outcome", "ack")

	s.publish(t, "team", 1, t0, firingAlert("a"))
	s.waitCounter(t, 1, "klaxon_notifications_suppressed_total", "reason", "already_notified")
	waitCalls(t, r, 2)
}

// TestSendTimeout: a receiver that hangs is abandoned after the send
// timeout; the retry delivers once.
func TestSendTimeout(t *testing.T) {
	r := newReceiver(t)
	hang := make(chan struct{})
	defer close(hang)
	r.onCall = func(i int) {
		if i == 0 {
			<-hang
		}
	}
	s := startStage(t, r.url(), true, func(o *Options) { o.SendTimeout = 300 * time.Millisecond })

	s.publish(t, "team", 1, t0, firingAlert("a"))
	waitCalls(t, r, 2)
	s.waitCounter(t, 1, "klaxon_notifications_failed_total", "reason", "timeout")
	s.waitCounter(t, 1, "klaxon_notifications_total")
	if !strings.Contains(s.logs.String(), "send timeout") {
		t.Errorf("the timeout's cause is not logged")
	}
}

// TestDeadLetters: a 400 and events the stage cannot resolve go to
// klaxon.dlq.notifier once, with the reason, and are acked.
func TestDeadLetters(t *testing.T) {
	r := newReceiver(t, http.StatusBadRequest)
	s := startStage(t, r.url(), true)

	s.publish(t, "team", 1, t0, firingAlert("a"))
	waitCalls(t, r, 1)
	dl := s.waitDeadLetter(t, 1)
	if !strings.Contains(dl.Reason, "400") || dl.Stage != contract.StageNotifier || dl.Subject != contract.NotifySubject("webhook") {
		t.Fatalf("dead letter %+v", dl)
	}
	if strings.Contains(dl.Reason, secretToken) {
		t.Fatalf("dead letter reason leaks the URL: %s", dl.Reason)
	}
	s.waitCounter(t, 1, "klaxon_notifications_failed_total", "integration", "webhook", "reason", "client_error")

	s.publish(t, "nobody", 1, t0, firingAlert("a"))
	if dl := s.waitDeadLetter(t, 2); !strings.Contains(dl.Reason, "receiver not in the running config") {
		t.Fatalf("unknown receiver: dead letter %+v", dl)
	}
	s.publishRaw(t, []byte("{not json"))
	if dl := s.waitDeadLetter(t, 3); !strings.Contains(dl.Reason, "decode contract.Notification") || string(dl.Payload) != "{not json" {
		t.Fatalf("bad JSON: dead letter %+v", dl)
	}
	s.publishRaw(t, []byte(`{"version":99}`))
	if dl := s.waitDeadLetter(t, 4); !strings.Contains(dl.Reason, "version 99") {
		t.Fatalf("unknown version: dead letter %+v", dl)
	}
	s.waitCounter(t, 4, "klaxon_messages_processed_total", "stage", "notifier", "outcome", "dead_letter")
	waitCalls(t, r, 1) // dead letters are not retried

	// Every input is acked: nothing pending on the consumer.
	waitFor(t, "consumer drained", func() bool {
		c, err := s.js.Consumer(t.Context(), contract.StreamNotify, contract.ConsumerNotify)
		if err != nil {
			return false
		}
		info, err := c.Info(t.Context())
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	})
}

// waitDeadLetter waits for the n-th dead letter of the notifier.
func (s *running) waitDeadLetter(t *testing.T, n uint64) contract.DeadLetter {
	t.Helper()
	ctx := t.Context()
	var raw jetstream.RawStreamMsg
	waitFor(t, fmt.Sprintf("dead letter %d", n), func() bool {
		st, err := s.js.Stream(ctx, contract.StreamDLQ)
		if err != nil {
			return false
		}
		info, err := st.Info(ctx)
		if err != nil || info.State.Msgs < n {
			return false
		}
		m, err := st.GetLastMsgForSubject(ctx, contract.DLQSubject(contract.StageNotifier))
		if err != nil {
			return false
		}
		raw = *m
		return true
	})
	var dl contract.DeadLetter
	if err := json.Unmarshal(raw.Data, &dl); err != nil {
		t.Fatalf("dead letter: %v", err)
	}
	return dl
}

// TestRepeatedCounted plays a second replica that records the flush while
// this one is sending: the send is counted as repeated, and the message is
// acked without error.
func TestRepeatedCounted(t *testing.T) {
	r := newReceiver(t)
	s := startStage(t, r.url(), true)
	kv, err := s.js.KeyValue(t.Context(), contract.BucketNflog)
	if err != nil {
		t.Fatal(err)
	}
	store := nflogstore.New(kv, nil)
	in := contract.Integration{Receiver: "team", Type: "webhook"}
	r.onCall = func(int) {
		note := &contract.Notification{GroupKey: groupKey, Integration: in, FlushSeq: 1, FlushedAt: t0}
		e := nflogstore.NewEntry(note, nflog.NewSet(firingAlert("a").Fingerprint().String()), nflog.NewSet())
		// Over this replica's claim, as a replica that took it over would.
		_, rev, err := store.Get(context.Background(), nflogstore.Key(groupKey, in))
		if err != nil {
			t.Errorf("other replica's read: %v", err)
		}
		if _, err := store.Put(context.Background(), nflogstore.Key(groupKey, in), e, rev); err != nil {
			t.Errorf("other replica's write: %v", err)
		}
	}
	s.publish(t, "team", 1, t0, firingAlert("a"))
	waitCalls(t, r, 1)
	s.waitCounter(t, 1, "klaxon_notifications_repeated_total")
	s.waitCounter(t, 1, "klaxon_messages_processed_total", "stage", "notifier", "outcome", "ack")
}

// TestFirstFlushClaimsByCreate: a group's first flush claims by creating
// its log entry, without reading it first (the create counts as the query
// Alertmanager makes, one that found nothing); when an entry exists (an
// earlier group with the same key was notified), the create fails and the
// flush is decided on that entry, as any other.
func TestFirstFlushClaimsByCreate(t *testing.T) {
	r := newReceiver(t)
	s := startStage(t, r.url(), true)
	s.publish(t, "team", 1, t0, firingAlert("a"))
	calls := waitCalls(t, r, 1)
	wantCall(t, calls[0], "firing", "first notification", "a:firing")
	s.waitCounter(t, 1, "klaxon_messages_processed_total", "stage", "notifier", "outcome", "ack")
	s.waitCounter(t, 1, "alertmanager_nflog_queries_total")
	s.waitCounter(t, 1, "alertmanager_nflog_query_errors_total")

	// The group emptied and was created again: its flush sequence restarts
	// at 1, while the log still has the old group's notification of a,
	// a minute ago. Nothing new: no send.
	s.publish(t, "team", 1, t0.Add(time.Minute), firingAlert("a"))
	s.waitCounter(t, 1, "klaxon_notifications_suppressed_total", "reason", "no_change")
	s.waitCounter(t, 2, "alertmanager_nflog_queries_total")
	waitCalls(t, r, 1)
}

// TestSendKeepsRetryAfter: a 429's Retry-After reaches the bus through the
// handler's error (fault.RetryDelay), and a 4xx is final.
func TestSendKeepsRetryAfter(t *testing.T) {
	status := http.StatusTooManyRequests
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "42")
		w.WriteHeader(status)
	}))
	defer srv.Close()
	cfg, err := config.Parse(fmt.Appendf(nil, "route: {receiver: r}\nreceivers: [{name: r, webhook_configs: [{url: %q}]}]\n", srv.URL), "t.yml")
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(Options{Deps: stage.Deps{JS: jsStub(t), Config: func() *config.Config { return cfg }}})
	if err != nil {
		t.Fatal(err)
	}
	wh, err := webhook.New(cfg.Receiver("r").WebhookConfigs[0], slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	note := &contract.Notification{Integration: contract.Integration{Receiver: "r", Type: "webhook"}, FlushedAt: t0}
	_, err = n.send(t.Context(), &integration{notifier: wh, sendResolved: true}, note, []alert.Alert{firingAlert("a")}, nflog.ReasonFirstNotification, nil, n.logger)
	if d, ok := fault.RetryDelay(err); !ok || d != 42*time.Second || fault.IsFinal(err) {
		t.Fatalf("429: err %v, delay %v %v, final %v", err, d, ok, fault.IsFinal(err))
	}
	status = http.StatusForbidden
	_, err = n.send(t.Context(), &integration{notifier: wh, sendResolved: true}, note, []alert.Alert{firingAlert("a")}, nflog.ReasonFirstNotification, nil, n.logger)
	var se *notification.StatusError
	if !fault.IsFinal(err) || !errors.As(err, &se) || se.Code != http.StatusForbidden {
		t.Fatalf("403: err %v, want final StatusError", err)
	}
}

// jsStub returns a JetStream context for stage construction only.
func jsStub(t *testing.T) jetstream.JetStream {
	t.Helper()
	_, js := natstest.Start(t)
	return js
}

func TestIntegrations(t *testing.T) {
	cfg, err := config.Parse([]byte(`
route: {receiver: r}
receivers:
  - name: r
    webhook_configs: [{url: "http://127.0.0.1:1/"}, {url: "http://127.0.0.1:2/", send_resolved: false}]
`), "t.yml")
	if err != nil {
		t.Fatal(err)
	}
	c := newIntegrations(slog.New(slog.DiscardHandler))
	a, err := c.get(cfg, contract.Integration{Receiver: "r", Type: "webhook", Index: 1})
	if err != nil || a.sendResolved {
		t.Fatalf("get = %+v, %v", a, err)
	}
	if b, _ := c.get(cfg, contract.Integration{Receiver: "r", Type: "webhook", Index: 1}); b != a {
		t.Error("not cached within one config")
	}
	for _, tt := range []struct {
		cfg  *config.Config
		in   contract.Integration
		want error
	}{
		{nil, contract.Integration{Receiver: "r", Type: "webhook"}, ErrNoConfig},
		{cfg, contract.Integration{Receiver: "x", Type: "webhook"}, ErrUnknownReceiver},
		{cfg, contract.Integration{Receiver: "r", Type: "webhook", Index: 2}, ErrUnknownIntegration},
		{cfg, contract.Integration{Receiver: "r", Type: "webhook", Index: -1}, ErrUnknownIntegration},
		{cfg, contract.Integration{Receiver: "r", Type: "carrierpigeon"}, ErrUnsupported},
	} {
		if _, err := c.get(tt.cfg, tt.in); !errors.Is(err, tt.want) {
			t.Errorf("get(%+v) = %v, want %v", tt.in, err, tt.want)
		}
	}
}

func TestKeyLocks(t *testing.T) {
	var l keyLocks
	unlockA := l.lock("a")
	unlockB := l.lock("b") // another key is not blocked
	acquired, released := make(chan struct{}), make(chan struct{})
	go func() {
		unlock := l.lock("a")
		close(acquired)
		unlock()
		close(released)
	}()
	select {
	case <-acquired:
		t.Fatal("second lock of a key acquired while held")
	case <-time.After(20 * time.Millisecond):
	}
	unlockA()
	<-acquired
	<-released
	unlockB()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.locks) != 0 {
		t.Fatalf("locks kept: %v", l.locks)
	}
}
