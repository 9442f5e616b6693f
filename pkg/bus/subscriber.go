package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Subscriber consumes JetStream durable pull consumers as watermill
// messages. It implements message.Subscriber. The caller owns js and its
// connection.
type Subscriber struct {
	js     jetstream.JetStream
	cfg    SubscriberConfig
	logger *slog.Logger

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	subs   sync.WaitGroup // one per live subscription
}

var _ message.Subscriber = (*Subscriber)(nil)

// NewSubscriber returns a Subscriber over js.
func NewSubscriber(js jetstream.JetStream, cfg SubscriberConfig, logger *slog.Logger) *Subscriber {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Subscriber{
		js:     js,
		cfg:    cfg.withDefaults(),
		logger: logger.With("component", "bus.subscriber"),
		ctx:    ctx,
		cancel: cancel,
	}
}

// Subscribe creates or updates the durable consumer of topic (filter
// subject topic, explicit ack, deliver all, AckWait, MaxDeliver) and
// delivers its messages on the returned channel until ctx is cancelled or
// the Subscriber is closed; the channel is closed once every worker of the
// subscription has finished. The consumer is never deleted.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrSubscriberClosed
	}
	s.subs.Add(1)
	s.mu.Unlock()

	sub, err := s.newSubscription(ctx, topic)
	if err != nil {
		s.subs.Done()
		return nil, err
	}
	out := make(chan *message.Message)
	sub.out = out

	runCtx, stop := context.WithCancel(ctx)
	stopOnClose := context.AfterFunc(s.ctx, stop)
	var running sync.WaitGroup
	running.Go(func() { sub.run(runCtx) })
	// The subscription's owner: closes out after its workers are done.
	go func() {
		defer s.subs.Done()
		running.Wait()
		stopOnClose()
		stop()
		close(out)
		sub.logger.Debug("subscription stopped")
	}()
	return out, nil
}

// Close stops every subscription, waits for their in-flight messages (at
// most DrainTimeout) and closes their channels. The durable consumers
// stay: a new Subscriber resumes them.
func (s *Subscriber) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.subs.Wait()
	return nil
}

// subscription is one Subscribe call: a consumer and its workers.
type subscription struct {
	js       jetstream.JetStream
	cfg      SubscriberConfig
	logger   *slog.Logger
	topic    string
	stream   string
	durable  string
	consCfg  jetstream.ConsumerConfig
	msgCtx   context.Context // parent of message contexts: Subscribe's values, never cancelled
	out      chan<- *message.Message
	consLock sync.Mutex
	cons     jetstream.Consumer

	// handedBack are messages returned while stopping; they are nacked once
	// the subscription is closed (see handBack).
	handedBackMu sync.Mutex
	handedBack   []jetstream.Msg
}

func (s *Subscriber) newSubscription(ctx context.Context, topic string) (*subscription, error) {
	stream := s.cfg.Stream
	if stream == "" {
		var err error
		stream, err = s.js.StreamNameBySubject(ctx, topic)
		if err != nil {
			return nil, fmt.Errorf("find stream of subject %q: %w", topic, subscribeErr(err))
		}
	}
	sub := &subscription{
		js:      s.js,
		cfg:     s.cfg,
		topic:   topic,
		stream:  stream,
		durable: s.cfg.Durable(topic),
		msgCtx:  context.WithoutCancel(ctx),
	}
	sub.consCfg = jetstream.ConsumerConfig{
		Durable:       sub.durable,
		FilterSubject: topic,
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckWait:       s.cfg.AckWait,
		MaxDeliver:    s.cfg.MaxDeliver,
	}
	sub.logger = s.logger.With("subject", topic, "stream", stream, "consumer", sub.durable)
	if _, err := sub.consumer(ctx, true); err != nil {
		return nil, err
	}
	return sub, nil
}

// consumer returns the bound consumer, creating or updating it first when
// refresh is set (at Subscribe, and after the consumer was deleted).
func (sub *subscription) consumer(ctx context.Context, refresh bool) (jetstream.Consumer, error) {
	sub.consLock.Lock()
	defer sub.consLock.Unlock()
	if sub.cons != nil && !refresh {
		return sub.cons, nil
	}
	cons, err := sub.js.CreateOrUpdateConsumer(ctx, sub.stream, sub.consCfg)
	if err != nil {
		return nil, fmt.Errorf("create or update consumer %q on stream %q: %w", sub.durable, sub.stream, subscribeErr(err))
	}
	sub.cons = cons
	return cons, nil
}

// recreate creates the consumer again after old was deleted, once the
// server has finished deleting it (awaitGone).
func (sub *subscription) recreate(ctx context.Context, old jetstream.Consumer) error {
	if old != nil {
		if err := awaitGone(ctx, old.Info); err != nil {
			return err
		}
	}
	_, err := sub.consumer(ctx, true)
	return err
}

// DeleteConsumer deletes a durable consumer and returns once the server has
// torn it down (awaitGone), so that a consumer created under its
// name starts afresh.
func DeleteConsumer(ctx context.Context, js jetstream.JetStream, stream, name string) error {
	if err := js.DeleteConsumer(ctx, stream, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("delete consumer %q: %w", name, err)
	}
	return awaitGone(ctx, func(ctx context.Context) (*jetstream.ConsumerInfo, error) {
		c, err := js.Consumer(ctx, stream, name)
		if err != nil {
			return nil, err
		}
		return c.CachedInfo(), nil
	})
}

// awaitGone waits until info says the deleted consumer is gone, then lets
// its teardown finish.
//
// The server tells pending pulls "consumer deleted" before it has torn the
// consumer down: the dying consumer is still listed for a moment, and after
// that its state file stays on disk until its store is removed. Created at
// once, the "new" consumer was either the dying one (gone a moment later)
// or one that read the dying one's state file, with its last flushed, not
// its acknowledged, state: messages it counts as delivered reach no one and
// come back only after AckWait. So wait until the server no longer lists
// the consumer (at most deleteWait), then let its teardown finish
// (deleteSettle) before creating.
func awaitGone(ctx context.Context, info func(context.Context) (*jetstream.ConsumerInfo, error)) error {
	deadline := time.Now().Add(deleteWait)
	for {
		infoCtx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := info(infoCtx)
		cancel()
		if errors.Is(err, jetstream.ErrConsumerNotFound) || time.Now().After(deadline) {
			break
		}
		if !sleepCtx(ctx, pullRetryMin) {
			return ctx.Err()
		}
	}
	if !sleepCtx(ctx, deleteSettle) {
		return ctx.Err()
	}
	return nil
}

// sleepCtx waits d or until ctx is done; false when ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// subscribeErr classifies a consumer-management error: a lost connection is
// ErrUnavailable, anything else (no such stream, bad config) is returned
// as is.
func subscribeErr(err error) error {
	switch {
	case errors.Is(err, nats.ErrConnectionClosed),
		errors.Is(err, nats.ErrTimeout),
		errors.Is(err, nats.ErrNoResponders),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, jetstream.ErrConnectionClosed):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// run consumes until ctx is cancelled or the connection is closed: one
// Consume loop (the client's pull with heartbeats, a few messages requested
// ahead) feeds Concurrency workers, each of which sees one message through
// to its Ack or Nack. With one worker, messages are handled in stream order.
func (sub *subscription) run(ctx context.Context) {
	msgs := make(chan jetstream.Msg)
	var workers sync.WaitGroup
	for range sub.cfg.Concurrency {
		workers.Go(func() {
			for m := range msgs {
				sub.handle(ctx, m)
			}
		})
	}
	defer func() {
		close(msgs)
		workers.Wait()
		sub.nakHandedBack()
	}()
	pause := pullRetryMin
	for ctx.Err() == nil {
		cons, err := sub.consumer(ctx, false)
		if err == nil {
			err = sub.consume(ctx, cons, msgs)
		}
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, jetstream.ErrConnectionClosed), errors.Is(err, nats.ErrConnectionClosed):
			sub.logger.Error("nats connection closed, subscription ends", "error", err)
			return
		case errors.Is(err, jetstream.ErrConsumerDeleted), errors.Is(err, jetstream.ErrConsumerNotFound):
			sub.logger.Warn("consumer gone, recreating it", "error", err)
			if err := sub.recreate(ctx, cons); err != nil {
				sub.logger.Warn("recreate consumer failed", "error", err)
			}
		default:
			sub.logger.Warn("pull failed, retrying", "error", err, "pause", pause)
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		pause = min(2*pause, pullRetryMax)
	}
}

// consume runs one Consume until ctx is cancelled (nil) or it fails for
// good. On cancellation it is drained, not stopped: messages the server
// already sent still arrive and are nacked by handle for prompt
// redelivery, instead of coming back only after AckWait.
func (sub *subscription) consume(ctx context.Context, cons jetstream.Consumer, msgs chan<- jetstream.Msg) error {
	failed := make(chan error, 1)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		if ctx.Err() != nil {
			sub.handBack(m)
			return
		}
		select {
		case msgs <- m:
		case <-ctx.Done():
			sub.handBack(m)
		}
	},
		// Room for more than one message: the client re-pulls when its
		// buffer runs low, but skips that while its previous pull request is
		// still being sent; with a batch of one the buffer can run dry in
		// that moment, and nothing pulls until the request expires.
		jetstream.PullMaxMessages(max(2*sub.cfg.Concurrency, minPullBatch)),
		jetstream.PullExpiry(PullExpiry),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if errors.Is(err, jetstream.ErrNoHeartbeat) || errors.Is(err, nats.ErrNoResponders) {
				// The server tells a deletion only to a pending pull; one that
				// came between pulls shows as silence. Ask.
				err = consumerGone(ctx, cons, err)
			}
			if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) ||
				errors.Is(err, jetstream.ErrConnectionClosed) || errors.Is(err, nats.ErrConnectionClosed) {
				select {
				case failed <- err:
				default:
				}
			}
		}))
	if err != nil {
		return fmt.Errorf("consume from consumer %q: %w", sub.durable, err)
	}
	select {
	case <-ctx.Done():
		cc.Drain()
		<-cc.Closed()
		return nil
	case err := <-failed:
		cc.Stop()
		<-cc.Closed()
		return fmt.Errorf("consume from consumer %q: %w", sub.durable, err)
	}
}

// consumerGone checks, after missed heartbeats or an unanswered pull
// (cause), whether the consumer still exists: ErrConsumerNotFound when it
// does not, cause otherwise.
func consumerGone(ctx context.Context, cons jetstream.Consumer, cause error) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := cons.Info(ctx); errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("%w (after %w)", err, cause)
	}
	return cause
}

// handBack keeps a message this stopping subscription will not handle. It
// is nacked only once the subscription is closed: nacked at once, the
// server could deliver it to this subscription's last pull request again,
// and again, each time counting a delivery, until MaxDeliver is spent and
// the message is dropped unseen by any handler.
func (sub *subscription) handBack(m jetstream.Msg) {
	sub.handedBackMu.Lock()
	defer sub.handedBackMu.Unlock()
	sub.handedBack = append(sub.handedBack, m)
}

// nakHandedBack returns the handed-back messages for prompt redelivery to
// another subscription; it runs after the subscription closed.
func (sub *subscription) nakHandedBack() {
	sub.handedBackMu.Lock()
	defer sub.handedBackMu.Unlock()
	for _, m := range sub.handedBack {
		if err := m.Nak(); err != nil {
			sub.logger.Warn("nak failed, message will be redelivered after ack wait", "error", err)
		}
	}
	sub.handedBack = nil
}

// handle hands one message to the consumer and answers JetStream with its
// Ack or Nack. A message fetched while stopping is nacked at once.
func (sub *subscription) handle(ctx context.Context, m jetstream.Msg) {
	d, err := deliveryOf(m, sub.consCfg.MaxDeliver)
	if err != nil {
		sub.logger.Error("message without jetstream metadata, terminating it", "error", err)
		_ = m.Term()
		return
	}
	msg := fromNATS(m.Headers(), m.Data(), d)
	msgCtx, cancel := context.WithCancel(sub.msgCtx)
	defer cancel()
	msg.SetContext(msgCtx)

	if ctx.Err() != nil {
		sub.handBack(m)
		return
	}
	select {
	case sub.out <- msg:
	case <-ctx.Done():
		sub.handBack(m)
		return
	}
	stopBeat := sub.keepInProgress(m, msg)
	defer stopBeat()

	select {
	case <-msg.Acked():
		sub.ack(m, msg)
		return
	case <-msg.Nacked():
		sub.nak(m, msg, sub.delay(msg, d))
		return
	case <-ctx.Done():
	}
	// Stopping: give the handler DrainTimeout to finish.
	drain := time.NewTimer(sub.cfg.DrainTimeout)
	defer drain.Stop()
	select {
	case <-msg.Acked():
		sub.ack(m, msg)
	case <-msg.Nacked():
		sub.nak(m, msg, sub.delay(msg, d))
	case <-drain.C:
		cancel()
		sub.logger.Warn("message neither acked nor nacked before drain timeout, redelivering", "uuid", msg.UUID, "stream_seq", d.StreamSeq)
		sub.handBack(m)
	}
}

// keepInProgress tells the server, every third of AckWait, that m is still
// being worked on, until the returned stop is called (which waits for it).
// So AckWait can be short: a live handler keeps its message however long it
// works (a notifier's retries, a flush held until its tick), while the
// messages of a process that died come back within AckWait.
func (sub *subscription) keepInProgress(m jetstream.Msg, msg *message.Message) (stop func()) {
	done := make(chan struct{})
	var beat sync.WaitGroup
	beat.Go(func() {
		t := time.NewTicker(max(sub.cfg.AckWait/3, minInProgressEvery))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if err := m.InProgress(); err != nil {
					sub.logger.Debug("in-progress ack failed", "uuid", msg.UUID, "error", err)
				}
			}
		}
	})
	return func() {
		close(done)
		beat.Wait()
	}
}

// delay is how long to wait before redelivering a nacked message.
func (sub *subscription) delay(msg *message.Message, d delivery) time.Duration {
	if ra, ok := retryAfter(msg); ok {
		return ra
	}
	return sub.cfg.Backoff(int(d.Deliveries))
}

// ack acknowledges m without waiting for the server to confirm it: a
// confirmation cost a round trip per message (~10% of the pipeline's CPU
// with every alert a new group), and an ack that is lost redelivers the
// message, which every handler here applies again harmlessly. A stopping
// subscription's acks still reach the server: the connection is drained
// after it.
func (sub *subscription) ack(m jetstream.Msg, msg *message.Message) {
	if err := m.Ack(); err != nil {
		sub.logger.Warn("ack not sent, message will be redelivered", "uuid", msg.UUID, "error", err)
	}
}

func (sub *subscription) nak(m jetstream.Msg, msg *message.Message, delay time.Duration) {
	var err error
	if delay > 0 {
		err = m.NakWithDelay(delay)
	} else {
		err = m.Nak()
	}
	if err != nil {
		sub.logger.Warn("nak failed, message will be redelivered after ack wait", "uuid", msg.UUID, "error", err)
	}
}
