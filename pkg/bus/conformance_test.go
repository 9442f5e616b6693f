package bus_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/klaxon-alerts/klaxon/pkg/bus"
	"github.com/klaxon-alerts/klaxon/pkg/natsembed/natstest"
)

// provisioningSubscriber is the conformance suite's view of a Subscriber:
// the suite calls SubscribeInitialize before it publishes to a new topic,
// and this creates a stream capturing exactly that topic (in Klaxon,
// pkg/streams provisions the streams).
type provisioningSubscriber struct {
	*bus.Subscriber
	js jetstream.JetStream
}

func (s provisioningSubscriber) SubscribeInitialize(topic string) error {
	return provisionStream(context.Background(), s.js, topic)
}

func provisionStream(ctx context.Context, js jetstream.JetStream, subjects ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       bus.Name(subjects[0]),
		Subjects:   subjects,
		Storage:    jetstream.FileStorage,
		Duplicates: time.Minute,
	})
	return err
}

// testLogger logs to stderr with -v, and discards otherwise.
func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

// suiteConfig is the Subscriber configuration the suite runs with: the
// suite nacks the same messages many times in a row, so redelivery is
// immediate-ish and unlimited; a message left unacked at Close is handed
// back after a short drain.
func suiteConfig() bus.SubscriberConfig {
	return bus.SubscriberConfig{
		MaxDeliver:   -1,
		Backoff:      func(int) time.Duration { return 10 * time.Millisecond },
		DrainTimeout: 500 * time.Millisecond,
	}
}

// TestPubSubConformance runs watermill's own Pub/Sub conformance suite
// against Publisher and Subscriber on a real embedded JetStream server, with
// dotted topics ("klaxon.test.<id>") as Klaxon uses them.
//
// Features, honestly: consumer groups are durable consumers shared by all
// subscribers of the group; messages persist in the stream; delivery is
// at-least-once (no exactly-once); order is not guaranteed with
// Concurrency > 1 (TestOrderWithConcurrencyOne checks order with 1); a new
// Subscriber on an existing durable resumes it rather than replaying old
// messages; there is no broker restart command.
func TestPubSubConformance(t *testing.T) {
	url := natstest.Server(t)
	features := tests.Features{
		ConsumerGroups:                   true,
		ExactlyOnceDelivery:              false,
		GuaranteedOrder:                  false,
		Persistent:                       true,
		NewSubscriberReceivesOldMessages: false,
		GenerateTopicFunc: func(tctx tests.TestContext) string {
			return "klaxon.test." + string(tctx.TestID)
		},
		// The full message counts (5000-10000 per test, 50 concurrent
		// subscribers) take minutes on 2 cores with -race; the reduced
		// counts exercise the same paths.
		ForceShort: forceShort(),
	}
	constructor := func(base bus.SubscriberConfig) tests.ConsumerGroupPubSubConstructor {
		return func(t *testing.T, group string) (message.Publisher, message.Subscriber) {
			_, js := natstest.Connect(t, url)
			cfg := base
			if group != "" {
				cfg.Durable = func(string) string { return bus.Name(group) }
			}
			logger := testLogger(t)
			pub := bus.NewPublisher(js, logger)
			sub := bus.NewSubscriber(js, cfg, logger)
			return pub, provisioningSubscriber{Subscriber: sub, js: js}
		}
	}
	cg := constructor(suiteConfig())
	tests.TestPubSub(t, features,
		func(t *testing.T) (message.Publisher, message.Subscriber) { return cg(t, "") },
		cg,
	)
}

// TestOrderWithConcurrencyOne runs the suite's ordering tests with
// Concurrency 1 and one subscriber: then order is guaranteed, and no new
// message arrives before the previous one is acked.
func TestOrderWithConcurrencyOne(t *testing.T) {
	url := natstest.Server(t)
	cfg := suiteConfig()
	cfg.Concurrency = 1
	features := tests.Features{
		GuaranteedOrder:                     true,
		GuaranteedOrderWithSingleSubscriber: true,
		Persistent:                          true,
		GenerateTopicFunc: func(tctx tests.TestContext) string {
			return "klaxon.order." + string(tctx.TestID)
		},
		ForceShort: forceShort(),
	}
	constructor := func(t *testing.T) (message.Publisher, message.Subscriber) {
		_, js := natstest.Connect(t, url)
		return bus.NewPublisher(js, testLogger(t)), provisioningSubscriber{Subscriber: bus.NewSubscriber(js, cfg, testLogger(t)), js: js}
	}
	for name, test := range map[string]func(*testing.T, tests.TestContext, tests.PubSubConstructor){
		"InOrder": tests.TestPublishSubscribeInOrder,
		"NoAck":   tests.TestNoAck,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, tests.TestContext{TestID: tests.NewTestID(), Features: features}, constructor)
		})
	}
}

// forceShort reduces the suite's message counts unless KLAXON_BUS_FULL=1.
func forceShort() bool { return os.Getenv("KLAXON_BUS_FULL") != "1" }
