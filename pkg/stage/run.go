package stage

import (
	"context"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/klaxon-alerts/klaxon/pkg/bus"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
)

// Consumer is one input of a stage: a durable consumer of a stream (shared
// by the stage's replicas), the subjects it takes, and what handles each
// message. A nil return acknowledges the message; an error is retried, or
// dead-lettered when final (pkg/fault) or on the last delivery.
type Consumer struct {
	// Name names the handler in logs and metrics.
	Name string
	// Subject is the subject filter, e.g. "klaxon.notify.>".
	Subject string
	// Subscriber configures the durable consumer (Stream and Durable at
	// least).
	Subscriber bus.SubscriberConfig
	Handle     func(msg *message.Message) error
}

// Run runs a stage's consumers on one router until ctx is done. Final
// failures are dead-lettered through pub, stamped with the stage's clock.
func (d Deps) Run(ctx context.Context, name string, pub *bus.Publisher, consumers ...Consumer) error {
	router, err := bus.NewRouter(d.Logger, pub, name, d.Registerer, bus.WithClock(d.Now))
	if err != nil {
		return fmt.Errorf("%s: router: %w", name, err)
	}
	for _, c := range consumers {
		router.AddConsumerHandler(c.Name, c.Subject, bus.NewSubscriber(d.JS, c.Subscriber, d.Logger), c.Handle)
	}
	d.Logger.Info("stage started", "consumers", len(consumers))
	err = router.Run(ctx)
	d.Logger.Info("stage stopped")
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// Durable is the SubscriberConfig of the durable consumer name on stream.
func Durable(stream, name string) bus.SubscriberConfig {
	return bus.SubscriberConfig{Stream: stream, Durable: func(string) string { return name }}
}

// Handle adapts a handler of one event type: each message is decoded as a T
// with contract.Decode (a message that does not decode, or of an unknown
// version, is a final error) and handed over with the message's context.
func Handle[T contract.Event](h func(ctx context.Context, ev T) error) func(*message.Message) error {
	return func(msg *message.Message) error {
		ev, err := contract.Decode[T](msg.Payload)
		if err != nil {
			return err
		}
		return h(msg.Context(), ev)
	}
}
