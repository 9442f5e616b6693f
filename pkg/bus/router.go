package bus

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime/debug"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/fault"
)

// Outcomes of one handled message, the outcome label of
// klaxon_messages_processed_total.
const (
	OutcomeAck        = "ack"
	OutcomeRetry      = "retry"
	OutcomeDeadLetter = "dead_letter"
)

// NewLogger adapts logger to watermill's LoggerAdapter (watermill's Trace
// maps below slog's Debug).
func NewLogger(logger *slog.Logger) watermill.LoggerAdapter {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return watermill.NewSlogLogger(logger)
}

// RouterOption configures NewRouter.
type RouterOption func(*routerOptions)

type routerOptions struct {
	now          func() time.Time
	closeTimeout time.Duration
}

// WithClock sets the clock stamped on dead letters (default time.Now).
func WithClock(now func() time.Time) RouterOption {
	return func(o *routerOptions) { o.now = now }
}

// WithCloseTimeout bounds how long Router.Close waits for running handlers
// (watermill's default: 30s).
func WithCloseTimeout(d time.Duration) RouterOption {
	return func(o *routerOptions) { o.closeTimeout = d }
}

// NewRouter returns a watermill Router for stage with Klaxon's middleware,
// outermost first:
//
//   - dead letters and metrics: a handler error that fault.IsFinal, or any
//     error on a message's last delivery (MetaDeliveries >= MetaMaxDeliver),
//     publishes a contract.DeadLetter to contract.DLQSubject(stage) on dlq
//     and acks the input; any other error nacks it for redelivery with
//     backoff, carrying fault.RetryDelay as MetaRetryAfter. Every message is
//     counted in klaxon_messages_processed_total{stage,outcome} and timed in
//     klaxon_message_processing_seconds{stage}.
//   - CorrelationID: produced messages inherit the input's correlation id.
//   - panic recovery: a panicking handler returns a final error.
//
// Handlers should publish their output themselves (AddConsumerHandler with
// a Publisher) rather than return messages: the Router publishes returned
// messages after the middleware ran, so a failure there is only nacked and,
// on the last delivery, not dead-lettered.
//
// reg may be nil (no metrics registered); several routers may share one
// registry.
func NewRouter(logger *slog.Logger, dlq message.Publisher, stage string, reg prometheus.Registerer, opts ...RouterOption) (*message.Router, error) {
	if dlq == nil {
		return nil, errors.New("router: dead-letter publisher is nil")
	}
	if stage == "" {
		return nil, errors.New("router: stage is empty")
	}
	o := routerOptions{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "bus.router", "stage", stage)
	m, err := newRouterMetrics(reg)
	if err != nil {
		return nil, err
	}
	r, err := message.NewRouter(message.RouterConfig{CloseTimeout: o.closeTimeout}, NewLogger(logger))
	if err != nil {
		return nil, fmt.Errorf("watermill router: %w", err)
	}
	dl := &deadLetterer{
		dlq:       dlq,
		stage:     stage,
		now:       o.now,
		logger:    logger,
		processed: m.processed,
		seconds:   m.seconds.WithLabelValues(stage),
	}
	r.AddMiddleware(dl.middleware, middleware.CorrelationID, finalPanics(logger))
	return r, nil
}

// finalPanics turns a handler panic into a final error; the stack goes to
// the log, not into the dead letter.
func finalPanics(logger *slog.Logger) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) (out []*message.Message, err error) {
			defer func() {
				if r := recover(); r != nil {
					logger.Error("handler panicked", "uuid", msg.UUID, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
					out, err = nil, fault.Final(fmt.Errorf("handler panic: %v", r))
				}
			}()
			return h(msg)
		}
	}
}

// deadLetterer decides the fate of a failed message and counts outcomes.
type deadLetterer struct {
	dlq       message.Publisher
	stage     string
	now       func() time.Time
	logger    *slog.Logger
	processed *prometheus.CounterVec
	seconds   prometheus.Observer
}

func (d *deadLetterer) middleware(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		start := time.Now()
		out, err := h(msg)
		outcome := OutcomeAck
		switch {
		case err == nil:
		case fault.IsFinal(err) || lastDelivery(msg):
			if dlErr := d.deadLetter(msg, err); dlErr != nil {
				// Not dead-lettered: keep the input for another try.
				outcome, err = OutcomeRetry, errors.Join(err, dlErr)
				break
			}
			outcome, out, err = OutcomeDeadLetter, nil, nil
		default:
			outcome = OutcomeRetry
			if delay, ok := fault.RetryDelay(err); ok {
				SetRetryAfter(msg, delay)
			}
		}
		d.seconds.Observe(time.Since(start).Seconds())
		d.processed.WithLabelValues(d.stage, outcome).Inc()
		return out, err
	}
}

// lastDelivery reports whether msg will not be delivered again.
func lastDelivery(msg *message.Message) bool {
	n, maxDeliver, ok := Deliveries(msg)
	return ok && maxDeliver > 0 && n >= maxDeliver
}

// deadLetter publishes msg with the reason it failed. Its Nats-Msg-Id is
// derived from the input's stream position, so a redelivered input is
// dead-lettered once.
func (d *deadLetterer) deadLetter(msg *message.Message, cause error) error {
	out, err := DeadLetter(d.stage, msg, msg.Payload, cause, d.now())
	if err != nil {
		return err
	}
	subject := msg.Metadata.Get(MetaSubject)
	if err := d.dlq.Publish(contract.DLQSubject(d.stage), out); err != nil {
		d.logger.Error("dead letter not published", "uuid", msg.UUID, "subject", subject, "error", err)
		return fmt.Errorf("publish dead letter: %w", err)
	}
	d.logger.Warn("message dead-lettered", "uuid", msg.UUID, "subject", subject, "reason", cause.Error())
	return nil
}

// DeadLetter builds the dead letter a stage publishes on
// contract.DLQSubject(stage) for its input in: payload is what failed (in's
// payload, or one part of it, e.g. one alert of a batch) and cause the
// reason. Its Nats-Msg-Id derives from in's stream position and payload, so
// a redelivered input is dead-lettered once.
func DeadLetter(stage string, in *message.Message, payload []byte, cause error, at time.Time) (*message.Message, error) {
	dl := contract.DeadLetter{
		Version:  contract.Version,
		Stage:    stage,
		Subject:  in.Metadata.Get(MetaSubject),
		Reason:   cause.Error(),
		Headers:  maps.Clone(map[string]string(in.Metadata)),
		Payload:  payload,
		FailedAt: at.UTC(),
	}
	body, err := json.Marshal(dl)
	if err != nil {
		return nil, fmt.Errorf("encode dead letter: %w", err)
	}
	id := in.UUID
	if seq := in.Metadata.Get(MetaStreamSeq); seq != "" {
		id = dl.Subject + ":" + seq
	}
	sum := sha256.Sum256(payload)
	out := message.NewMessage(watermill.NewUUID(), body)
	out.Metadata.Set(MetaMsgID, "dlq:"+stage+":"+id+":"+hex.EncodeToString(sum[:8]))
	if c := middleware.MessageCorrelationID(in); c != "" {
		middleware.SetCorrelationID(c, out)
	}
	return out, nil
}

// routerMetrics are shared by every router on one registry.
type routerMetrics struct {
	processed *prometheus.CounterVec
	seconds   *prometheus.HistogramVec
}

func newRouterMetrics(reg prometheus.Registerer) (routerMetrics, error) {
	m := routerMetrics{
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "klaxon_messages_processed_total",
			Help: "Messages handled by a stage, by outcome (ack, retry, dead_letter).",
		}, []string{"stage", "outcome"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "klaxon_message_processing_seconds",
			Help:    "Time a stage's handler took for one message, middleware included.",
			Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5, 10, 30, 60},
		}, []string{"stage"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.processed, err = register(reg, m.processed); err != nil {
		return m, err
	}
	if m.seconds, err = register(reg, m.seconds); err != nil {
		return m, err
	}
	return m, nil
}

// register registers c, or returns the equal collector already registered
// (another stage's router in the same process).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("register metrics: %w", err)
	}
	return c, nil
}
