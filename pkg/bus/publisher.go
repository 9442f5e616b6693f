package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/klaxon-alerts/klaxon/pkg/fault"
)

// Publish errors. Both are retryable: the caller answers with back-pressure
// (ingest: 503 / 429 with Retry-After; a stage: Nack its input).
var (
	// ErrUnavailable: NATS is unreachable, no stream answered, or the
	// PubAck did not come in time.
	ErrUnavailable = errors.New("nats unavailable")
	// ErrStreamFull: the stream refused the message because of its limits
	// (DiscardNew: "maximum messages/bytes exceeded").
	ErrStreamFull = errors.New("stream full")
	// ErrPublisherClosed: Publish after Close.
	ErrPublisherClosed = errors.New("publisher closed")
)

// DefaultPublishTimeout bounds how long Publish waits for all PubAcks.
const DefaultPublishTimeout = 10 * time.Second

// Publisher publishes watermill messages to JetStream and waits for every
// PubAck. It implements message.Publisher. The caller owns js and its
// connection.
type Publisher struct {
	js      jetstream.JetStream
	logger  *slog.Logger
	timeout time.Duration

	mu       sync.RWMutex
	closed   bool
	inFlight sync.WaitGroup
}

var _ message.Publisher = (*Publisher)(nil)

// PublisherOption configures a Publisher.
type PublisherOption func(*Publisher)

// WithPublishTimeout bounds how long one Publish call waits for all of its
// PubAcks (default DefaultPublishTimeout); past it Publish returns
// ErrUnavailable. To also bound the memory of acks that never come, create
// js with jetstream.WithPublishAsyncTimeout.
func WithPublishTimeout(d time.Duration) PublisherOption {
	return func(p *Publisher) {
		if d > 0 {
			p.timeout = d
		}
	}
}

// NewPublisher returns a Publisher over js.
func NewPublisher(js jetstream.JetStream, logger *slog.Logger, opts ...PublisherOption) *Publisher {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &Publisher{js: js, logger: logger.With("component", "bus.publisher"), timeout: DefaultPublishTimeout}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Publish publishes msgs to the NATS subject topic (dots allowed) and
// returns once the stream acknowledged every one of them. Metadata becomes
// headers (see the package doc); MetaMsgID, or the UUID, is the Nats-Msg-Id.
// A duplicate PubAck is a success. Errors of several messages are joined;
// see ErrUnavailable, ErrStreamFull and fault.IsFinal for their classes.
func (p *Publisher) Publish(topic string, msgs ...*message.Message) error {
	out := make([]*nats.Msg, 0, len(msgs))
	var errs []error
	for _, msg := range msgs {
		nm, err := toNATS(topic, msg)
		if err != nil {
			errs = append(errs, fmt.Errorf("message %s: %w", msg.UUID, fault.Final(err)))
			continue
		}
		out = append(out, nm)
	}
	if err := p.PublishMsgs(context.Background(), out...); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("publish %d message(s) to %q: %w", len(msgs), topic, errors.Join(errs...))
	}
	return nil
}

// publishWindow bounds the messages PublishMsgs has in flight at once.
const publishWindow = 1024

// PublishMsgs publishes NATS messages, each to its own subject, and
// returns once the streams acknowledged every one of them: sent first, then
// the acks collected (a window at a time), one round trip for many
// messages. The Nats-Msg-Id header makes a repeat harmless. Errors are
// classified as Publish's. The wait ends at the publisher's timeout or
// when ctx ends, whichever is first: what is not acknowledged by then is an
// ErrUnavailable.
func (p *Publisher) PublishMsgs(ctx context.Context, msgs ...*nats.Msg) error {
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return ErrPublisherClosed
	}
	p.inFlight.Add(1)
	p.mu.RUnlock()
	defer p.inFlight.Done()

	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	expired := false
	var errs []error
	for len(msgs) > 0 {
		window := msgs[:min(len(msgs), publishWindow)]
		msgs = msgs[len(window):]
		futures := make([]jetstream.PubAckFuture, len(window))
		for i, nm := range window {
			f, err := p.js.PublishMsgAsync(nm)
			if err != nil {
				errs = append(errs, fmt.Errorf("message %s to %s: %w", nm.Header.Get(jetstream.MsgIDHeader), nm.Subject, classify(err)))
				continue
			}
			futures[i] = f
		}
		for _, f := range futures {
			if f == nil {
				continue
			}
			ack, err := awaitAck(ctx, f, &expired)
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("message %s to %s: %w", f.Msg().Header.Get(jetstream.MsgIDHeader), f.Msg().Subject, err))
			case ack.Duplicate:
				p.logger.Debug("duplicate publish dropped by stream",
					"subject", f.Msg().Subject, "stream", ack.Stream, "seq", ack.Sequence, "msg_id", f.Msg().Header.Get(MetaMsgID))
			}
		}
	}
	return errors.Join(errs...)
}

// awaitAck waits for f's PubAck until ctx ends; once it has (*expired),
// only acks that already arrived are taken.
func awaitAck(ctx context.Context, f jetstream.PubAckFuture, expired *bool) (*jetstream.PubAck, error) {
	select {
	case ack := <-f.Ok():
		return ack, nil
	case err := <-f.Err():
		return nil, classify(err)
	default:
	}
	if !*expired {
		select {
		case ack := <-f.Ok():
			return ack, nil
		case err := <-f.Err():
			return nil, classify(err)
		case <-ctx.Done():
			*expired = true
		}
	}
	return nil, fmt.Errorf("no PubAck in time: %w: %w", ErrUnavailable, context.Cause(ctx))
}

// Close makes later Publish calls fail with ErrPublisherClosed and waits for
// the ones in progress. It does not close the NATS connection.
func (p *Publisher) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.inFlight.Wait()
	return nil
}

// JetStream error codes that classify a failed publish.
const (
	codeStoreFailed      = 10077 // "{err}", e.g. "maximum messages exceeded"
	codeAccountResources = 10002 // "resource limits exceeded for account"
	codeInsufficientRes  = 10023 // "insufficient resources"
	codeMessageTooLarge  = 10054 // "message size exceeds maximum allowed"
)

// classify wraps a publish error with its class.
func classify(err error) error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch {
		case apiErr.ErrorCode == codeStoreFailed && strings.HasPrefix(apiErr.Description, "maximum"),
			apiErr.ErrorCode == codeAccountResources,
			apiErr.ErrorCode == codeInsufficientRes:
			return fmt.Errorf("%w: %w", ErrStreamFull, err)
		case apiErr.ErrorCode == codeMessageTooLarge:
			return fault.Final(err)
		case apiErr.Code == 503:
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return err
	}
	switch {
	case errors.Is(err, nats.ErrConnectionClosed),
		errors.Is(err, nats.ErrConnectionDraining),
		errors.Is(err, nats.ErrDisconnected),
		errors.Is(err, nats.ErrReconnectBufExceeded),
		errors.Is(err, nats.ErrTimeout),
		errors.Is(err, nats.ErrNoResponders),
		errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, jetstream.ErrAsyncPublishTimeout),
		errors.Is(err, jetstream.ErrTooManyStalledMsgs),
		errors.Is(err, jetstream.ErrJetStreamPublisherClosed),
		errors.Is(err, jetstream.ErrConnectionClosed),
		errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	case errors.Is(err, nats.ErrMaxPayload),
		errors.Is(err, nats.ErrBadSubject),
		errors.Is(err, nats.ErrBadHeaderMsg):
		return fault.Final(err)
	}
	return err
}
