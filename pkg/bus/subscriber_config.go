package bus

import (
	"errors"
	"time"
)

// Subscriber defaults.
const (
	DefaultAckWait      = 5 * time.Second
	DefaultMaxDeliver   = 10
	DefaultConcurrency  = 8
	DefaultDrainTimeout = 10 * time.Second

	// minInProgressEvery bounds how often a handed-out message is marked in
	// progress (every AckWait/3, see keepInProgress).
	minInProgressEvery = 50 * time.Millisecond
	// minPullBatch is the fewest messages one pull asks for (see consume).
	minPullBatch = 16
	// Pauses between failed pulls grow from pullRetryMin to pullRetryMax.
	pullRetryMin = 100 * time.Millisecond
	pullRetryMax = 10 * time.Second
	// deleteWait bounds the wait for a deleted consumer to disappear from
	// the server, and deleteSettle is the time then left for its teardown
	// to remove its state, before it is created again (see awaitGone).
	deleteWait   = 5 * time.Second
	deleteSettle = 500 * time.Millisecond
)

// PullExpiry bounds a pull request, and so any stall of a client's pulling:
// a pull the server never saw (sent while a consumer was being created in a
// cluster, say) is noticed after two missed heartbeats, half of this each,
// and made again. nats.go's default, 30 s, would hold a consumer's messages
// for a minute.
const PullExpiry = 5 * time.Second

// ErrSubscriberClosed is returned by Subscribe after Close.
var ErrSubscriberClosed = errors.New("subscriber closed")

// SubscriberConfig configures a Subscriber. The zero value is usable.
type SubscriberConfig struct {
	// Stream holds the topic; "" looks it up with js.StreamNameBySubject.
	Stream string
	// Durable names the consumer of a topic; default Name(topic). All
	// replicas of a stage use the same name and so share the consumer
	// (a work queue).
	Durable func(topic string) string
	// AckWait is how long the server waits for an Ack, or an in-progress
	// ack, before redelivering; default 5s. A message handed to a handler
	// is marked in progress every AckWait/3 until it is acked or nacked, so
	// AckWait bounds how long the messages of a process that died wait,
	// not how long a handler may work.
	AckWait time.Duration
	// MaxDeliver is how many times a message is delivered at most; default
	// 10, -1 unlimited. The Router dead-letters a message on its last
	// delivery.
	MaxDeliver int
	// Backoff is the redelivery delay after the n-th delivery was nacked;
	// default exponential from 1s, doubling, capped at 1m. A MetaRetryAfter
	// set on the message before Nack takes precedence.
	Backoff func(deliveries int) time.Duration
	// Concurrency is how many messages of one subscription may be in
	// flight (handed out and not yet acked or nacked); default 8. With 1,
	// messages of one Subscriber arrive in stream order.
	Concurrency int
	// DrainTimeout bounds how long a stopping subscription (Close, or the
	// Subscribe context cancelled) waits for messages already handed out to
	// be acked or nacked; default 10s. Past it their contexts are cancelled
	// and they are nacked for immediate redelivery.
	DrainTimeout time.Duration
}

// WithConcurrency returns c with Concurrency n.
func (c SubscriberConfig) WithConcurrency(n int) SubscriberConfig {
	c.Concurrency = n
	return c
}

func (c SubscriberConfig) withDefaults() SubscriberConfig {
	if c.Durable == nil {
		c.Durable = Name
	}
	if c.AckWait <= 0 {
		c.AckWait = DefaultAckWait
	}
	if c.MaxDeliver == 0 || c.MaxDeliver < -1 {
		c.MaxDeliver = DefaultMaxDeliver
	}
	if c.Backoff == nil {
		c.Backoff = ExponentialBackoff(time.Second, time.Minute)
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	return c
}

// ExponentialBackoff returns min after the first delivery, doubling with
// each further delivery, capped at max.
func ExponentialBackoff(minDelay, maxDelay time.Duration) func(deliveries int) time.Duration {
	return func(deliveries int) time.Duration {
		d := minDelay
		for i := 1; i < deliveries && d < maxDelay; i++ {
			d *= 2
		}
		return min(d, maxDelay)
	}
}
