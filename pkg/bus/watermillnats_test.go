package bus_test

// These tests back the package doc's "Why not watermill-nats": they run
// watermill-nats v2.1.3 against a real embedded JetStream server, set up the
// way its own tests set it up, and assert what it does in the scenarios that
// matter to Klaxon, next to what bus does in the same scenario.

import (
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmjetstream "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/jetstream"
	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/klaxon-alerts/klaxon/pkg/bus"
	"github.com/klaxon-alerts/klaxon/pkg/natsembed/natstest"
)

const (
	// wmTopic is a Klaxon-shaped, dotted subject.
	wmTopic = "klaxon.alerts.in"
	// wmGroup is the queue group and durable name of the pkg/nats
	// subscriber, as its consumer-group tests set them (QueueGroupPrefix =
	// DurablePrefix).
	wmGroup = "dedup"
)

// wmIDs are the messages of the restart scenarios.
func wmIDs() []string {
	ids := make([]string, 10)
	for i := range ids {
		ids[i] = "m" + strconv.Itoa(i)
	}
	return ids
}

// wmNATSConfig is watermill-nats pkg/nats's JetStream configuration for a
// consumer group as its own pubsubfactory_test.go sets it: a durable named
// after the group, deliver all, explicit ack, synchronous acks. The stream
// is Klaxon's (AutoProvision would name it after the dotted topic, which
// JetStream rejects).
func wmNATSConfig(subOpts ...nats.SubOpt) wmnats.JetStreamConfig {
	return wmnats.JetStreamConfig{
		SubscribeOptions: append([]nats.SubOpt{nats.DeliverAll(), nats.AckExplicit()}, subOpts...),
		DurablePrefix:    wmGroup,
	}
}

func wmNATSPublish(t *testing.T, url string, ids ...string) {
	t.Helper()
	pub, err := wmnats.NewPublisher(wmnats.PublisherConfig{URL: url, JetStream: wmNATSConfig()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pub.Close() }()
	for _, id := range ids {
		if err := pub.Publish(wmTopic, message.NewMessage(id, []byte("payload-"+id))); err != nil {
			t.Fatalf("watermill-nats publish %s: %v", id, err)
		}
	}
}

func wmNATSSubscriber(t *testing.T, url string, subOpts ...nats.SubOpt) *wmnats.Subscriber {
	t.Helper()
	sub, err := wmnats.NewSubscriber(wmnats.SubscriberConfig{
		URL:              url,
		QueueGroupPrefix: wmGroup,
		SubscribersCount: 1, // stream order
		AckWaitTimeout:   time.Minute,
		CloseTimeout:     5 * time.Second,
		JetStream:        wmNATSConfig(subOpts...),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	return sub
}

// pushConsumerInfo fetches a consumer's state with the legacy JetStream
// API, which (unlike jetstream.Consumer) also answers for the push
// consumers of watermill-nats pkg/nats.
func pushConsumerInfo(t *testing.T, nc *nats.Conn, stream, durable string) (*nats.ConsumerInfo, error) {
	t.Helper()
	legacy, err := nc.JetStream(nats.MaxWait(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return legacy.ConsumerInfo(stream, durable)
}

func mustConsumerInfo(t *testing.T, nc *nats.Conn, stream, durable string) *nats.ConsumerInfo {
	t.Helper()
	info, err := pushConsumerInfo(t, nc, stream, durable)
	if err != nil {
		t.Fatalf("consumer %s/%s: %v", stream, durable, err)
	}
	return info
}

// settled reports whether the consumer has nothing left to deliver and
// nothing awaiting an ack.
func settled(t *testing.T, nc *nats.Conn, stream, durable string) bool {
	info := mustConsumerInfo(t, nc, stream, durable)
	return info.NumPending == 0 && info.NumAckPending == 0 && info.AckFloor.Stream == info.Delivered.Stream
}

// firstRun is the first life of a stage: sub acks m0..m4 in stream order,
// the server records those acks on the durable consumer, m5 is handed to
// the handler, and sub is closed while m5 is neither acked nor nacked. It
// returns the consumer's info just before Close.
func firstRun(t *testing.T, nc *nats.Conn, stream, durable string, sub message.Subscriber, ids []string) *nats.ConsumerInfo {
	t.Helper()
	ch, err := sub.Subscribe(t.Context(), wmTopic)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range ids[:6] {
		m := receive(t, ch, 5*time.Second)
		if m.UUID != want {
			t.Fatalf("first subscriber got %s, want %s", m.UUID, want)
		}
		if i < 5 {
			m.Ack()
		}
	}
	eventually(t, 5*time.Second, "the five acks to reach the server", func() bool {
		return mustConsumerInfo(t, nc, stream, durable).AckFloor.Stream == 5
	})
	before := mustConsumerInfo(t, nc, stream, durable)
	if err := sub.Close(); err != nil {
		t.Fatalf("close first subscriber: %v", err)
	}
	return before
}

// secondRun reads n messages from ch, acking each, and returns their UUIDs.
// A missing message fails the test with the consumer's state.
func secondRun(t *testing.T, nc *nats.Conn, stream, durable string, ch <-chan *message.Message, n int) []string {
	t.Helper()
	var got []string
	for range n {
		select {
		case m, ok := <-ch:
			if !ok {
				t.Fatalf("channel closed after %v", got)
			}
			got = append(got, m.UUID)
			m.Ack()
		case <-time.After(5 * time.Second):
			info := mustConsumerInfo(t, nc, stream, durable)
			t.Fatalf("got %v, then nothing for 5s; consumer: %d pending, %d awaiting ack, %d deliveries up to stream seq %d, ack floor %d",
				got, info.NumPending, info.NumAckPending, info.Delivered.Consumer, info.Delivered.Stream, info.AckFloor.Stream)
		}
	}
	return got
}

// TestWatermillNATSRestartRedeliversAcked: watermill-nats pkg/nats, set up
// as its own tests set it up, creates the durable consumer on Subscribe (it
// did not exist), so nats.go marks it library-created and the Unsubscribe
// in Close deletes it. The next Subscriber with the same configuration
// creates a new consumer that delivers the whole stream again, the five
// acked messages included.
func TestWatermillNATSRestartRedeliversAcked(t *testing.T) {
	url := natstest.Server(t)
	nc, js := natstest.Connect(t, url)
	stream := mustStream(t, js, wmTopic)
	ids := wmIDs()
	wmNATSPublish(t, url, ids...)

	before := firstRun(t, nc, stream, wmGroup, wmNATSSubscriber(t, url), ids)

	if _, err := pushConsumerInfo(t, nc, stream, wmGroup); !errors.Is(err, nats.ErrConsumerNotFound) {
		t.Fatalf("after Close: consumer %q lookup error = %v, want ErrConsumerNotFound (deleted)", wmGroup, err)
	}

	ch, err := wmNATSSubscriber(t, url).Subscribe(t.Context(), wmTopic)
	if err != nil {
		t.Fatal(err)
	}
	if got := secondRun(t, nc, stream, wmGroup, ch, len(ids)); !slices.Equal(got, ids) {
		t.Fatalf("after restart got %v, want the whole stream %v again", got, ids)
	}
	if after := mustConsumerInfo(t, nc, stream, wmGroup); after.Created.Equal(before.Created) {
		t.Errorf("consumer created at %v both times, want a new consumer", after.Created)
	}
}

// provisionPushConsumer creates the durable push consumer watermill-nats
// pkg/nats binds to instead of creating one: deliver group = queue group,
// deliver all, explicit ack, one message out at a time (so m6.. wait on the
// server rather than in a client buffer).
func provisionPushConsumer(t *testing.T, nc *nats.Conn, stream string, ackWait time.Duration) {
	t.Helper()
	legacy, err := nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := legacy.AddConsumer(stream, &nats.ConsumerConfig{
		Durable:        wmGroup,
		DeliverSubject: nats.NewInbox(),
		DeliverGroup:   wmGroup,
		DeliverPolicy:  nats.DeliverAllPolicy,
		AckPolicy:      nats.AckExplicitPolicy,
		AckWait:        ackWait,
		MaxAckPending:  1,
	}); err != nil {
		t.Fatalf("provision push consumer: %v", err)
	}
}

// TestWatermillNATSRestartProvisionedConsumer is the workaround in
// ARCHITECTURE.md: Klaxon creates the durable push consumer before
// watermill-nats subscribes, so nats.go binds to it instead of creating it
// and Close leaves it alone: the acked messages are not redelivered. m5,
// held by the handler at Close, is neither acked nor nacked by
// watermill-nats and comes back only when the consumer's AckWait expires.
// This needs nats.ManualAck on top of the options of watermill-nats's own
// tests (see TestWatermillNATSCloseAcksHeldMessage).
func TestWatermillNATSRestartProvisionedConsumer(t *testing.T) {
	url := natstest.Server(t)
	nc, js := natstest.Connect(t, url)
	stream := mustStream(t, js, wmTopic)
	const ackWait = time.Second
	provisionPushConsumer(t, nc, stream, ackWait)
	ids := wmIDs()
	wmNATSPublish(t, url, ids...)

	before := firstRun(t, nc, stream, wmGroup, wmNATSSubscriber(t, url, nats.ManualAck()), ids)
	closed := time.Now()

	ch, err := wmNATSSubscriber(t, url, nats.ManualAck()).Subscribe(t.Context(), wmTopic)
	if err != nil {
		t.Fatal(err)
	}
	if got := secondRun(t, nc, stream, wmGroup, ch, 5); !slices.Equal(got, ids[5:]) {
		t.Fatalf("after restart got %v, want %v", got, ids[5:])
	}
	if waited := time.Since(closed); waited < ackWait/2 {
		t.Errorf("m5 back %v after Close, want it held until AckWait (%v) expired", waited, ackWait)
	}
	eventually(t, 5*time.Second, "consumer settled", func() bool { return settled(t, nc, stream, wmGroup) })
	if after := mustConsumerInfo(t, nc, stream, wmGroup); !after.Created.Equal(before.Created) {
		t.Errorf("consumer recreated (%v, was %v), want the provisioned one", after.Created, before.Created)
	}
	select {
	case m := <-ch:
		t.Fatalf("unexpected delivery of %s", m.UUID)
	default:
	}
}

// TestWatermillNATSCloseAcksHeldMessage: with the subscribe options of
// watermill-nats's own tests (no nats.ManualAck), nats.go acks every
// message after watermill-nats's callback returns, and that callback also
// returns, without the handler's Ack, when the subscriber closes. So on a
// consumer that survives Close (provisioned, as above), the message the
// handler was still working on (m5) is acked by the library: lost.
func TestWatermillNATSCloseAcksHeldMessage(t *testing.T) {
	url := natstest.Server(t)
	nc, js := natstest.Connect(t, url)
	stream := mustStream(t, js, wmTopic)
	provisionPushConsumer(t, nc, stream, time.Minute)
	ids := wmIDs()
	wmNATSPublish(t, url, ids...)

	before := firstRun(t, nc, stream, wmGroup, wmNATSSubscriber(t, url), ids)
	if before.NumAckPending != 1 || before.Delivered.Stream != 6 {
		t.Fatalf("before Close: delivered up to %d with %d awaiting ack, want m5 (seq 6) out",
			before.Delivered.Stream, before.NumAckPending)
	}
	eventually(t, 5*time.Second, "m5 acked by the library", func() bool {
		return mustConsumerInfo(t, nc, stream, wmGroup).AckFloor.Stream >= 6
	})
}

// TestWatermillNATSRestartBusResumes is the scenario of
// TestWatermillNATSRestartRedeliversAcked with bus: the consumer Subscribe
// creates survives Close, m0..m4 are not redelivered, and m5 (nacked once
// DrainTimeout passed) and m6..m9 go to the next Subscriber, m5 not
// necessarily first.
func TestWatermillNATSRestartBusResumes(t *testing.T) {
	nc, js := natstest.Start(t)
	stream := mustStream(t, js, wmTopic)
	ids := wmIDs()
	publishN(t, bus.NewPublisher(js, testLogger(t)), wmTopic, ids...)
	cfg := bus.SubscriberConfig{Concurrency: 1, DrainTimeout: 100 * time.Millisecond}
	durable := bus.Name(wmTopic)

	before := firstRun(t, nc, stream, durable, bus.NewSubscriber(js, cfg, testLogger(t)), ids)

	second := bus.NewSubscriber(js, cfg, testLogger(t))
	t.Cleanup(func() { _ = second.Close() })
	ch, err := second.Subscribe(t.Context(), wmTopic)
	if err != nil {
		t.Fatal(err)
	}
	got := secondRun(t, nc, stream, durable, ch, 5)
	slices.Sort(got)
	if !slices.Equal(got, ids[5:]) {
		t.Fatalf("after restart got %v, want %v", got, ids[5:])
	}
	eventually(t, 5*time.Second, "consumer settled", func() bool { return settled(t, nc, stream, durable) })
	if after := mustConsumerInfo(t, nc, stream, durable); !after.Created.Equal(before.Created) {
		t.Errorf("consumer recreated (%v, was %v), want the same one", after.Created, before.Created)
	}
	select {
	case m := <-ch:
		t.Fatalf("unexpected redelivery of %s", m.UUID)
	default:
	}
}

// TestWatermillNATSJetStreamPublishDottedSubject: watermill-nats
// pkg/jetstream publishes to the subject named by its StreamConfigurator's
// stream name. With the default configurator (name = topic) that is the
// dotted topic itself, so, unlike ARCHITECTURE.md's note, publishing to a
// dotted subject captured by a stream Klaxon provisioned works. A
// configurator that gives the stream a valid name (stream names cannot
// contain dots) makes it publish to that name instead of the topic.
func TestWatermillNATSJetStreamPublishDottedSubject(t *testing.T) {
	url := natstest.Server(t)
	_, js := natstest.Connect(t, url)
	stream := mustStream(t, js, wmTopic)

	t.Run("default configurator", func(t *testing.T) {
		nc, _ := natstest.Connect(t, url)
		pub, err := wmjetstream.NewPublisher(wmjetstream.PublisherConfig{Conn: nc, Logger: watermill.NopLogger{}})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = pub.Close() }()
		msg := message.NewMessage("dotted", []byte("x"))
		if err := pub.Publish(wmTopic, msg); err != nil {
			t.Fatalf("publish to %s: %v", wmTopic, err)
		}
		s, err := js.Stream(t.Context(), stream)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := s.GetLastMsgForSubject(t.Context(), wmTopic)
		if err != nil {
			t.Fatalf("message on %s: %v", wmTopic, err)
		}
		if id := raw.Header.Get(wmnats.WatermillUUIDHdr); id != msg.UUID {
			t.Fatalf("stored message uuid %q, want %q", id, msg.UUID)
		}
	})

	t.Run("valid stream name", func(t *testing.T) {
		nc, _ := natstest.Connect(t, url)
		pub, err := wmjetstream.NewPublisher(wmjetstream.PublisherConfig{
			Conn:   nc,
			Logger: watermill.NopLogger{},
			ConfigureStream: func(topic string) jetstream.StreamConfig {
				return jetstream.StreamConfig{Name: bus.Name(topic), Subjects: []string{topic}}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = pub.Close() }()
		err = pub.Publish(wmTopic, message.NewMessage("renamed", []byte("x")))
		if !errors.Is(err, jetstream.ErrNoStreamResponse) {
			t.Fatalf("publish error = %v, want ErrNoStreamResponse (no stream on the mangled subject)", err)
		}

		// Where it went: a stream on the stream name as a subject catches it.
		catch := mustStream(t, js, stream)
		msg := message.NewMessage("caught", []byte("x"))
		if err := pub.Publish(wmTopic, msg); err != nil {
			t.Fatal(err)
		}
		s, err := js.Stream(t.Context(), catch)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := s.GetLastMsgForSubject(t.Context(), stream)
		if err != nil {
			t.Fatalf("message on subject %q: %v", stream, err)
		}
		if id := raw.Header.Get(wmnats.WatermillUUIDHdr); id != msg.UUID {
			t.Fatalf("message on subject %q has uuid %q, want %q", stream, id, msg.UUID)
		}
	})
}

// TestWatermillNATSJetStreamSubscribeDottedTopic: every ResourceInitializer
// watermill-nats pkg/jetstream ships, and SubscribeInitialize, look the
// stream up by (or create it with) the topic as its name, which JetStream
// rejects for a dotted topic. Only a hand-written ResourceInitializer can
// subscribe to Klaxon's subjects.
func TestWatermillNATSJetStreamSubscribeDottedTopic(t *testing.T) {
	url := natstest.Server(t)
	_, js := natstest.Connect(t, url)
	mustStream(t, js, wmTopic)

	for name, init := range map[string]wmjetstream.ResourceInitializer{
		"EphemeralConsumer (default)": nil,
		"GroupedConsumer":             wmjetstream.GroupedConsumer(wmGroup),
		"ExistingConsumer":            wmjetstream.ExistingConsumer(nil, wmGroup),
	} {
		t.Run(name, func(t *testing.T) {
			nc, _ := natstest.Connect(t, url)
			sub, err := wmjetstream.NewSubscriber(wmjetstream.SubscriberConfig{Conn: nc, Logger: watermill.NopLogger{}, ResourceInitializer: init})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = sub.Close() }()
			_, err = sub.Subscribe(t.Context(), wmTopic)
			if !errors.Is(err, jetstream.ErrInvalidStreamName) {
				t.Fatalf("Subscribe(%s) error = %v, want ErrInvalidStreamName", wmTopic, err)
			}
		})
	}
	t.Run("SubscribeInitialize", func(t *testing.T) {
		nc, _ := natstest.Connect(t, url)
		sub, err := wmjetstream.NewSubscriber(wmjetstream.SubscriberConfig{Conn: nc, Logger: watermill.NopLogger{}})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = sub.Close() }()
		if err := sub.SubscribeInitialize(wmTopic); !errors.Is(err, jetstream.ErrInvalidStreamName) {
			t.Fatalf("SubscribeInitialize(%s) error = %v, want ErrInvalidStreamName", wmTopic, err)
		}
	})
}
