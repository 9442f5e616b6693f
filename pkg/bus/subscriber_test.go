package bus_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/klaxon-alerts/klaxon/pkg/bus"
	"github.com/klaxon-alerts/klaxon/pkg/natsembed/natstest"
)

func publishN(t *testing.T, pub *bus.Publisher, topic string, ids ...string) {
	t.Helper()
	msgs := make([]*message.Message, len(ids))
	for i, id := range ids {
		msgs[i] = message.NewMessage(id, []byte("payload-"+id))
	}
	if err := pub.Publish(topic, msgs...); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

// TestRestartDoesNotRedeliverAcked is the gap of watermill-nats that made
// us write this package: after Close, a new Subscriber on the same durable
// resumes it, and messages acked before Close never come back.
func TestRestartDoesNotRedeliverAcked(t *testing.T) {
	_, js := natstest.Start(t)
	const topic = "klaxon.restart.acked"
	stream := mustStream(t, js, topic)
	pub := bus.NewPublisher(js, testLogger(t))
	var ids []string
	for i := range 10 {
		ids = append(ids, "m"+strconv.Itoa(i))
	}
	publishN(t, pub, topic, ids...)

	cfg := bus.SubscriberConfig{Concurrency: 1}
	first := bus.NewSubscriber(js, cfg, testLogger(t))
	ch, err := first.Subscribe(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range ids[:5] {
		m := receive(t, ch, 5*time.Second)
		if m.UUID != want {
			t.Fatalf("got %s, want %s (Concurrency 1 keeps stream order)", m.UUID, want)
		}
		m.Ack()
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-ch; ok {
		t.Fatal("channel still open after Close")
	}
	durable := bus.Name(topic)
	if info := consumerInfo(t, js, stream, durable); info.AckFloor.Stream != 5 {
		t.Fatalf("after Close: consumer ack floor = %d, want 5 (the acked messages)", info.AckFloor.Stream)
	}

	second := bus.NewSubscriber(js, cfg, testLogger(t))
	t.Cleanup(func() { _ = second.Close() })
	ch, err = second.Subscribe(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for range 5 {
		m := receive(t, ch, 5*time.Second)
		got = append(got, m.UUID)
		m.Ack()
	}
	// Messages the first Subscriber had buffered were handed back on Close
	// and may come again in any order; what matters is which come.
	slices.Sort(got)
	if !slices.Equal(got, ids[5:]) {
		t.Fatalf("after restart got %v, want %v (in any order)", got, ids[5:])
	}
	// Nothing else is pending or waiting for an ack: m0..m4 are not coming back.
	eventually(t, 5*time.Second, "consumer fully acked", func() bool { return fullyAcked(t, js, stream, durable) })
	select {
	case m := <-ch:
		t.Fatalf("unexpected redelivery of %s", m.UUID)
	default:
	}
}

// TestRestartRedeliversUnacked: a nacked message and a message that was
// being handled when the process died are delivered again to the next
// Subscriber; the acked one is not.
func TestRestartRedeliversUnacked(t *testing.T) {
	url := natstest.Server(t)
	_, js := natstest.Connect(t, url)
	const topic = "klaxon.restart.unacked"
	stream := mustStream(t, js, topic)
	publishN(t, bus.NewPublisher(js, testLogger(t)), topic, "acked", "nacked", "crashed")

	cfg := bus.SubscriberConfig{
		AckWait:      time.Second, // how long the server waits for the crashed process
		Backoff:      func(int) time.Duration { return 50 * time.Millisecond },
		DrainTimeout: 100 * time.Millisecond,
	}
	// The first process has its own connection: it crashes by losing it.
	crashConn, crashJS := natstest.Connect(t, url)
	first := bus.NewSubscriber(crashJS, cfg, testLogger(t))
	ch, err := first.Subscribe(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	pending := map[string]*message.Message{}
	for range 3 {
		m := receive(t, ch, 5*time.Second)
		pending[m.UUID] = m
	}
	pending["acked"].Ack()
	pending["nacked"].Nack()
	eventually(t, 5*time.Second, "the ack to reach the server", func() bool {
		return consumerInfo(t, js, stream, bus.Name(topic)).AckFloor.Stream >= 1
	})
	crashConn.Close() // "crashed" is neither acked nor nacked
	t.Cleanup(func() { _ = first.Close() })

	second := bus.NewSubscriber(js, cfg, testLogger(t))
	t.Cleanup(func() { _ = second.Close() })
	ch, err = second.Subscribe(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for range 2 {
		m := receive(t, ch, 10*time.Second)
		// "nacked" may have gone to the first process again before it crashed.
		if n, _, _ := bus.Deliveries(m); n < 2 {
			t.Errorf("%s: deliveries = %d, want a redelivery", m.UUID, n)
		}
		got[m.UUID] = true
		m.Ack()
	}
	if !got["nacked"] || !got["crashed"] {
		t.Fatalf("redelivered %v, want nacked and crashed", got)
	}
	eventually(t, 5*time.Second, "consumer fully acked", func() bool { return fullyAcked(t, js, stream, bus.Name(topic)) })
	select {
	case m := <-ch:
		t.Fatalf("unexpected delivery of %s", m.UUID)
	default:
	}
}

// TestDeliveryMetadata checks what a delivered message carries.
func TestDeliveryMetadata(t *testing.T) {
	_, js := natstest.Start(t)
	const topic = "klaxon.meta.in"
	stream := mustStream(t, js, topic)
	before := time.Now().Add(-time.Second)

	in := message.NewMessage("uuid-1", []byte(`{"a":1}`))
	in.Metadata.Set("trace", "abc")
	in.Metadata.Set(bus.MetaMsgID, "fp-1:rev-2")
	in.Metadata.Set(bus.MetaDeliveries, "99") // delivery facts are never published
	in.Metadata.Set(bus.MetaRetryAfter, "1h")
	if err := bus.NewPublisher(js, testLogger(t)).Publish(topic, in); err != nil {
		t.Fatal(err)
	}

	sub := bus.NewSubscriber(js, bus.SubscriberConfig{MaxDeliver: 4}, testLogger(t))
	t.Cleanup(func() { _ = sub.Close() })
	ch, err := sub.Subscribe(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	m := receive(t, ch, 5*time.Second)
	defer m.Ack()
	if m.UUID != "uuid-1" || string(m.Payload) != `{"a":1}` {
		t.Fatalf("got uuid %q payload %q", m.UUID, m.Payload)
	}
	for k, want := range map[string]string{
		"trace":            "abc",
		bus.MetaMsgID:      "fp-1:rev-2",
		bus.MetaSubject:    topic,
		bus.MetaDeliveries: "1",
		bus.MetaMaxDeliver: "4",
		bus.MetaStreamSeq:  "1",
		bus.MetaRetryAfter: "",
	} {
		if got := m.Metadata.Get(k); got != want {
			t.Errorf("metadata %s = %q, want %q", k, got, want)
		}
	}
	published, err := time.Parse(time.RFC3339Nano, m.Metadata.Get(bus.MetaPublished))
	if err != nil || published.Before(before) || published.After(time.Now().Add(time.Second)) {
		t.Errorf("metadata %s = %q (%v), want a timestamp of now", bus.MetaPublished, m.Metadata.Get(bus.MetaPublished), err)
	}
	if n, maxDeliver, ok := bus.Deliveries(m); !ok || n != 1 || maxDeliver != 4 {
		t.Errorf("Deliveries = %d, %d, %v; want 1, 4, true", n, maxDeliver, ok)
	}
	_ = stream
}

// TestNackRetryAfter: MetaRetryAfter set before Nack overrides Backoff.
func TestNackRetryAfter(t *testing.T) {
	_, js := natstest.Start(t)
	const topic = "klaxon.retryafter.in"
	mustStream(t, js, topic)
	publishN(t, bus.NewPublisher(js, testLogger(t)), topic, "x")

	sub := bus.NewSubscriber(js, bus.SubscriberConfig{
		Backoff: func(int) time.Duration { return time.Hour },
	}, testLogger(t))
	t.Cleanup(func() { _ = sub.Close() })
	ch, err := sub.Subscribe(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	m := receive(t, ch, 5*time.Second)
	const delay = 300 * time.Millisecond
	bus.SetRetryAfter(m, delay)
	nacked := time.Now()
	m.Nack()
	m = receive(t, ch, 5*time.Second) // would be an hour with Backoff
	if waited := time.Since(nacked); waited < delay {
		t.Fatalf("redelivered after %s, want at least %s", waited, delay)
	}
	if got := m.Metadata.Get(bus.MetaDeliveries); got != "2" {
		t.Fatalf("deliveries = %s, want 2", got)
	}
	m.Ack()
}

// TestSubscribeErrors: no stream for the subject, and Subscribe after Close.
func TestSubscribeErrors(t *testing.T) {
	_, js := natstest.Start(t)
	sub := bus.NewSubscriber(js, bus.SubscriberConfig{}, testLogger(t))
	if _, err := sub.Subscribe(t.Context(), "klaxon.nostream"); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("Subscribe without stream: err = %v, want ErrStreamNotFound", err)
	}
	_ = sub.Close()
	mustStream(t, js, "klaxon.closed")
	if _, err := sub.Subscribe(t.Context(), "klaxon.closed"); !errors.Is(err, bus.ErrSubscriberClosed) {
		t.Fatalf("Subscribe after Close: err = %v, want ErrSubscriberClosed", err)
	}
}

// TestSubscribeContextCancel: cancelling Subscribe's context closes the
// channel and keeps the consumer; a message handed out and not yet
// answered gets DrainTimeout to be acked.
func TestSubscribeContextCancel(t *testing.T) {
	_, js := natstest.Start(t)
	const topic = "klaxon.cancel.in"
	stream := mustStream(t, js, topic)
	publishN(t, bus.NewPublisher(js, testLogger(t)), topic, "a")

	sub := bus.NewSubscriber(js, bus.SubscriberConfig{DrainTimeout: 5 * time.Second}, testLogger(t))
	t.Cleanup(func() { _ = sub.Close() })
	ctx, cancel := context.WithCancel(t.Context())
	ch, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	m := receive(t, ch, 5*time.Second)
	cancel()
	select {
	case <-m.Context().Done():
		t.Fatal("message context cancelled while draining")
	default:
	}
	m.Ack() // a handler finishing during shutdown
	for range ch {
		t.Fatal("message after cancel")
	}
	if info := consumerInfo(t, js, stream, bus.Name(topic)); info.AckFloor.Stream != 1 || info.NumAckPending != 0 {
		t.Fatalf("ack floor %d, ack pending %d; want the drained ack recorded", info.AckFloor.Stream, info.NumAckPending)
	}
}

// TestConsumerDeletedIsRecreated: if an operator deletes the durable
// consumer, the subscription creates it again and goes on delivering.
func TestConsumerDeletedIsRecreated(t *testing.T) {
	_, js := natstest.Start(t)
	const topic = "klaxon.deleted.in"
	stream := mustStream(t, js, topic)
	pub := bus.NewPublisher(js, testLogger(t))
	sub := bus.NewSubscriber(js, bus.SubscriberConfig{
		Stream:  stream,
		Durable: func(string) string { return "worker" },
	}, testLogger(t))
	t.Cleanup(func() { _ = sub.Close() })
	ch, err := sub.Subscribe(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	publishN(t, pub, topic, "before")
	receive(t, ch, 5*time.Second).Ack()
	eventually(t, 5*time.Second, "ack recorded", func() bool { return fullyAcked(t, js, stream, "worker") })

	if err := js.DeleteConsumer(t.Context(), stream, "worker"); err != nil {
		t.Fatal(err)
	}
	publishN(t, pub, topic, "after")
	// A new consumer delivers from the start of the stream again.
	got := map[string]bool{}
	for len(got) < 2 {
		m := receive(t, ch, 15*time.Second)
		got[m.UUID] = true
		m.Ack()
	}
	if !got["after"] {
		t.Fatalf("got %v, want the message published after the deletion", got)
	}
	consumerInfo(t, js, stream, "worker") // exists again
}

// TestHandlerWorkingLongerThanAckWaitKeepsItsMessage: a message handed to a
// handler is marked in progress, so a handler working for several AckWaits
// keeps it: no other subscriber of the consumer gets it meanwhile, and its
// ack is the first and only delivery's.
func TestHandlerWorkingLongerThanAckWaitKeepsItsMessage(t *testing.T) {
	_, js := natstest.Start(t)
	const topic = "klaxon.inprogress.in"
	stream := mustStream(t, js, topic)
	cfg := bus.SubscriberConfig{Stream: stream, AckWait: 300 * time.Millisecond}
	first := bus.NewSubscriber(js, cfg, testLogger(t))
	t.Cleanup(func() { _ = first.Close() })
	ch1, err := first.Subscribe(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	publishN(t, bus.NewPublisher(js, testLogger(t)), topic, "long")
	m := receive(t, ch1, 5*time.Second)

	second := bus.NewSubscriber(js, cfg, testLogger(t))
	t.Cleanup(func() { _ = second.Close() })
	ch2, err := second.Subscribe(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	hold := 5 * cfg.AckWait
	select {
	case other := <-ch2:
		t.Fatalf("%s redelivered to another subscriber while its handler works", other.UUID)
	case <-time.After(hold):
	}
	m.Ack()
	eventually(t, 5*time.Second, "ack recorded", func() bool { return fullyAcked(t, js, stream, bus.Name(topic)) })
	if n, _, _ := bus.Deliveries(m); n != 1 {
		t.Errorf("deliveries = %d, want 1", n)
	}
	if info := consumerInfo(t, js, stream, bus.Name(topic)); info.NumRedelivered != 0 {
		t.Errorf("%d redelivered, want 0", info.NumRedelivered)
	}
}
