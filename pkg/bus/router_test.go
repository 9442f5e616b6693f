package bus_test

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/klaxon-alerts/klaxon/pkg/bus"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/fault"
	"github.com/klaxon-alerts/klaxon/pkg/natsembed/natstest"
)

const (
	routerStage = "teststage"
	routerTopic = "klaxon.routertest.in"
)

// routerEnv is a running Router for routerStage on routerTopic, with the
// dead-letter stream provisioned and read back by the test.
type routerEnv struct {
	js       jetstream.JetStream
	pub      *bus.Publisher
	reg      *prometheus.Registry
	stream   string
	dlq      <-chan *message.Message
	mu       sync.Mutex
	attempts map[string][]int // payload → deliveries seen by the handler
}

var failedAt = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func startRouter(t *testing.T, maxDeliver int, handle func(msg *message.Message, attempt int) error) *routerEnv {
	t.Helper()
	_, js := natstest.Start(t)
	env := &routerEnv{js: js, reg: prometheus.NewRegistry(), attempts: map[string][]int{}}
	env.stream = mustStream(t, js, routerTopic)
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{
		Name: contract.StreamDLQ, Subjects: []string{contract.SubjectDLQPrefix + ">"},
	}); err != nil {
		t.Fatal(err)
	}
	env.pub = bus.NewPublisher(js, testLogger(t))

	r, err := bus.NewRouter(testLogger(t), env.pub, routerStage, env.reg, bus.WithClock(func() time.Time { return failedAt }))
	if err != nil {
		t.Fatal(err)
	}
	sub := bus.NewSubscriber(js, bus.SubscriberConfig{
		MaxDeliver: maxDeliver,
		Backoff:    func(int) time.Duration { return 20 * time.Millisecond },
	}, testLogger(t))
	r.AddConsumerHandler("test", routerTopic, sub, func(msg *message.Message) error {
		n, _, _ := bus.Deliveries(msg)
		env.mu.Lock()
		env.attempts[string(msg.Payload)] = append(env.attempts[string(msg.Payload)], n)
		attempt := len(env.attempts[string(msg.Payload)])
		env.mu.Unlock()
		return handle(msg, attempt)
	})
	done := make(chan error, 1)
	go func() { done <- r.Run(t.Context()) }()
	<-r.Running()
	t.Cleanup(func() {
		_ = r.Close()
		if err := <-done; err != nil {
			t.Errorf("router run: %v", err)
		}
	})

	dlqSub := bus.NewSubscriber(js, bus.SubscriberConfig{}, testLogger(t))
	t.Cleanup(func() { _ = dlqSub.Close() })
	env.dlq, err = dlqSub.Subscribe(t.Context(), contract.DLQSubject(routerStage))
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func (e *routerEnv) publish(t *testing.T, payload string) {
	t.Helper()
	m := message.NewMessage("in-"+payload, []byte(payload))
	middleware.SetCorrelationID("corr-"+payload, m)
	if err := e.pub.Publish(routerTopic, m); err != nil {
		t.Fatal(err)
	}
}

func (e *routerEnv) seen(payload string) []int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]int(nil), e.attempts[payload]...)
}

func (e *routerEnv) deadLetter(t *testing.T) (contract.DeadLetter, *message.Message) {
	t.Helper()
	m := receive(t, e.dlq, 10*time.Second)
	m.Ack()
	var dl contract.DeadLetter
	if err := json.Unmarshal(m.Payload, &dl); err != nil {
		t.Fatalf("dead letter payload: %v", err)
	}
	return dl, m
}

// counter reads klaxon_messages_processed_total{stage=routerStage,outcome}.
func (e *routerEnv) counter(t *testing.T, outcome string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "klaxon_messages_processed_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["stage"] == routerStage && labels["outcome"] == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestRouterFinalErrorDeadLetters: a final error publishes a DeadLetter on
// klaxon.dlq.<stage> at once and acks the input.
func TestRouterFinalErrorDeadLetters(t *testing.T) {
	env := startRouter(t, 5, func(*message.Message, int) error {
		return fault.Final(errors.New("cannot decode alert"))
	})
	env.publish(t, "bad")

	dl, m := env.deadLetter(t)
	if dl.Version != contract.Version || dl.Stage != routerStage || dl.Subject != routerTopic ||
		string(dl.Payload) != "bad" || dl.Reason != "cannot decode alert" || !dl.FailedAt.Equal(failedAt) {
		t.Fatalf("dead letter = %+v", dl)
	}
	if dl.Headers[bus.MetaStreamSeq] != "1" || dl.Headers[bus.MetaDeliveries] != "1" || dl.Headers["klaxon-uuid"] != "" {
		t.Errorf("dead letter headers = %v, want the input's delivery metadata", dl.Headers)
	}
	// The input's stream position and the failed payload's hash: a
	// redelivered input, or one alert of a batch, is dead-lettered once.
	if got := m.Metadata.Get(bus.MetaMsgID); !strings.HasPrefix(got, "dlq:"+routerStage+":"+routerTopic+":1:") {
		t.Errorf("dead letter Nats-Msg-Id = %q, want one derived from the input's stream position", got)
	}
	if got := middleware.MessageCorrelationID(m); got != "corr-bad" {
		t.Errorf("dead letter correlation id = %q, want corr-bad", got)
	}
	eventually(t, 5*time.Second, "input acked", func() bool { return fullyAcked(t, env.js, env.stream, bus.Name(routerTopic)) })
	if got := env.seen("bad"); len(got) != 1 {
		t.Fatalf("handler saw deliveries %v, want exactly one", got)
	}
	if env.counter(t, bus.OutcomeDeadLetter) != 1 || env.counter(t, bus.OutcomeRetry) != 0 {
		t.Errorf("counters: dead_letter %v retry %v", env.counter(t, bus.OutcomeDeadLetter), env.counter(t, bus.OutcomeRetry))
	}
}

// TestRouterRetryThenDeadLetter: a retryable error is redelivered with the
// deliveries count rising, and dead-lettered on the last delivery.
func TestRouterRetryThenDeadLetter(t *testing.T) {
	env := startRouter(t, 3, func(*message.Message, int) error {
		return errors.New("downstream timeout")
	})
	env.publish(t, "flaky")

	dl, _ := env.deadLetter(t)
	if dl.Reason != "downstream timeout" || dl.Headers[bus.MetaDeliveries] != "3" {
		t.Fatalf("dead letter reason %q after deliveries %s; want downstream timeout after 3", dl.Reason, dl.Headers[bus.MetaDeliveries])
	}
	eventually(t, 5*time.Second, "input acked", func() bool { return fullyAcked(t, env.js, env.stream, bus.Name(routerTopic)) })
	if got := env.seen("flaky"); len(got) != 3 || got[0] != 1 || got[1] != 2 || got[2] != 3 {
		t.Fatalf("handler saw deliveries %v, want [1 2 3]", got)
	}
	if env.counter(t, bus.OutcomeRetry) != 2 || env.counter(t, bus.OutcomeDeadLetter) != 1 {
		t.Errorf("counters: retry %v dead_letter %v, want 2 and 1", env.counter(t, bus.OutcomeRetry), env.counter(t, bus.OutcomeDeadLetter))
	}
}

// TestRouterRetryAfterThenAck: fault.RetryAfter's delay is honoured, and a
// later success acks the input without a dead letter.
func TestRouterRetryAfterThenAck(t *testing.T) {
	const delay = 400 * time.Millisecond
	var mu sync.Mutex
	var times []time.Time
	env := startRouter(t, 5, func(_ *message.Message, attempt int) error {
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		if attempt == 1 {
			return fault.RetryAfter(errors.New("rate limited"), delay)
		}
		return nil
	})
	env.publish(t, "slow")
	eventually(t, 10*time.Second, "input acked", func() bool {
		return len(env.seen("slow")) == 2 && fullyAcked(t, env.js, env.stream, bus.Name(routerTopic))
	})
	mu.Lock()
	gap := times[1].Sub(times[0])
	mu.Unlock()
	if gap < delay {
		t.Fatalf("redelivered after %s, want at least the requested %s (Backoff alone is 20ms)", gap, delay)
	}
	if env.counter(t, bus.OutcomeRetry) != 1 || env.counter(t, bus.OutcomeAck) != 1 || env.counter(t, bus.OutcomeDeadLetter) != 0 {
		t.Errorf("counters: retry %v ack %v dead_letter %v", env.counter(t, bus.OutcomeRetry), env.counter(t, bus.OutcomeAck), env.counter(t, bus.OutcomeDeadLetter))
	}
	select {
	case m := <-env.dlq:
		t.Fatalf("unexpected dead letter %s", m.Payload)
	default:
	}
}

// TestRouterPanicDeadLetters: a panicking handler is a final error.
func TestRouterPanicDeadLetters(t *testing.T) {
	env := startRouter(t, 5, func(*message.Message, int) error { panic("nil map") })
	env.publish(t, "boom")
	dl, _ := env.deadLetter(t)
	if dl.Headers[bus.MetaDeliveries] != "1" {
		t.Fatalf("panic dead-lettered after %s deliveries, want 1", dl.Headers[bus.MetaDeliveries])
	}
	if want := "handler panic: nil map"; dl.Reason != want {
		t.Fatalf("reason %q, want %q", dl.Reason, want)
	}
}

// TestRouterSharedRegistry: the one-process shape runs every stage's router
// on one registry.
func TestRouterSharedRegistry(t *testing.T) {
	_, js := natstest.Start(t)
	reg := prometheus.NewRegistry()
	pub := bus.NewPublisher(js, nil)
	for _, stage := range contract.Stages {
		if _, err := bus.NewRouter(nil, pub, stage, reg); err != nil {
			t.Fatalf("router %s: %v", stage, err)
		}
	}
	if _, err := bus.NewRouter(nil, pub, contract.StageDedup, reg); err != nil {
		t.Fatalf("second router of a stage: %v", err)
	}
	if _, err := bus.NewRouter(nil, nil, contract.StageDedup, nil); err == nil {
		t.Fatal("router without dead-letter publisher: no error")
	}
}
