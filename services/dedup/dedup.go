// Package dedup is the dedup stage: it owns the alert lifecycle. It takes
// raw alerts from klaxon.alerts.in (ingest or any NATS client), validates them
// and applies Alertmanager's defaults, merges each into the stored state (KV
// klaxon-alerts, keyed by fingerprint) with compare-and-set, and emits an
// AlertChanged on klaxon.alerts.changed only for a real change: a new alert,
// changed annotations, or firing↔resolved. Refreshes only update the state.
//
// The rules themselves are pure functions in pkg/alert; this package is the
// adapter between them and JetStream.
package dedup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/bus"
	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/fault"
	"github.com/klaxon-alerts/klaxon/pkg/store"
)

// Options configures the dedup stage.
type Options struct {
	JS         jetstream.JetStream
	Config     func() *config.Config
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
}

// Dedup is the dedup stage.
type Dedup struct {
	opts    Options
	log     *slog.Logger
	pub     *bus.Publisher
	metrics metrics
}

type metrics struct {
	received *prometheus.CounterVec
	invalid  prometheus.Counter
	changes  *prometheus.CounterVec
}

// New builds the stage; Run starts it.
func New(opts Options) (*Dedup, error) {
	if opts.JS == nil || opts.Config == nil {
		return nil, errors.New("dedup: JS and Config are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger.With("component", contract.StageDedup)
	m := metrics{
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "klaxon_dedup_alerts_total", Help: "Alerts processed by dedup, by the change they made (none: refresh).",
		}, []string{"change"}),
		invalid: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "klaxon_dedup_alerts_invalid_total", Help: "Alerts rejected by validation and dead-lettered.",
		}),
	}
	m.changes = m.received
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{m.received, m.invalid} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("dedup metrics: %w", err)
			}
		}
	}
	return &Dedup{opts: opts, log: log, pub: bus.NewPublisher(opts.JS, log), metrics: m}, nil
}

// Run consumes klaxon.alerts.in until ctx is done.
func (d *Dedup) Run(ctx context.Context) error {
	kv, err := d.opts.JS.KeyValue(ctx, contract.BucketAlerts)
	if err != nil {
		return fmt.Errorf("dedup: bucket %s: %w", contract.BucketAlerts, err)
	}
	sub := bus.NewSubscriber(d.opts.JS, bus.SubscriberConfig{
		Stream:  contract.StreamInput,
		Durable: func(string) string { return contract.ConsumerDedup },
	}, d.log)
	router, err := bus.NewRouter(d.log, d.pub, contract.StageDedup, d.opts.Registerer)
	if err != nil {
		return err
	}
	router.AddConsumerHandler(contract.StageDedup, contract.SubjectAlertsIn, sub, func(msg *message.Message) error {
		return d.handle(msg.Context(), kv, msg)
	})
	return router.Run(ctx)
}

// handle processes one input message: one alert or an array of them.
// Invalid alerts of a batch are dead-lettered one by one; the valid ones are
// still processed. A message with nothing valid is a final error.
func (d *Dedup) handle(ctx context.Context, kv jetstream.KeyValue, msg *message.Message) error {
	postables, err := alert.DecodePostable(msg.Payload)
	if err != nil {
		d.metrics.invalid.Inc()
		return fault.Final(err)
	}
	if len(postables) == 0 {
		return nil
	}
	receivedAt := d.receivedAt(msg)
	resolveTimeout := time.Duration(d.opts.Config().Global.ResolveTimeout)
	var invalid []error
	for i, p := range postables {
		a, err := p.Normalize(receivedAt, resolveTimeout)
		if err != nil {
			d.metrics.invalid.Inc()
			err = fmt.Errorf("alert %d %v: %w", i, p.Labels, err)
			invalid = append(invalid, err)
			if len(postables) > 1 {
				if err := d.deadLetter(msg, p, err); err != nil {
					return err
				}
			}
			continue
		}
		if err := d.apply(ctx, kv, a); err != nil {
			return err
		}
	}
	if len(invalid) == len(postables) && len(postables) == 1 {
		return fault.Final(invalid[0])
	}
	return nil
}

// apply merges a into the stored state. The change is published before the
// state is written: a crash in between redelivers the input, which computes
// the same change from the same stored state, and the deterministic message
// id lets JetStream drop the second publish.
func (d *Dedup) apply(ctx context.Context, kv jetstream.KeyValue, a alert.Alert) error {
	fp := a.Fingerprint().String()
	var change alert.Change
	_, err := store.Mutate(ctx, kv, fp, func(cur *alert.Alert) (*alert.Alert, error) {
		next, ch := alert.Apply(cur, a, d.opts.Now())
		change = ch
		if ch != alert.ChangeNone {
			if err := d.publishChange(cur, next, ch, fp); err != nil {
				return nil, err
			}
		}
		return &next, nil
	})
	if err != nil {
		return fmt.Errorf("dedup alert %s: %w", fp, err)
	}
	label := string(change)
	if change == alert.ChangeNone {
		label = "none"
	}
	d.metrics.changes.WithLabelValues(label).Inc()
	return nil
}

func (d *Dedup) publishChange(cur *alert.Alert, next alert.Alert, ch alert.Change, fp string) error {
	body, err := json.Marshal(contract.AlertChanged{Version: contract.Version, Change: ch, Fingerprint: fp, Alert: next})
	if err != nil {
		return fault.Final(err)
	}
	before, _ := json.Marshal(cur)
	sum := sha256.Sum256(append(before, body...))
	out := message.NewMessage("chg-"+fp+"-"+hex.EncodeToString(sum[:12]), body)
	out.Metadata.Set(bus.MetaMsgID, out.UUID)
	if err := d.pub.Publish(contract.SubjectAlertsChanged, out); err != nil {
		return fmt.Errorf("publish change: %w", err)
	}
	return nil
}

// deadLetter sends one invalid alert of a batch to the dead-letter subject.
func (d *Dedup) deadLetter(in *message.Message, p alert.Postable, reason error) error {
	payload, err := json.Marshal(p)
	if err != nil {
		return fault.Final(err)
	}
	dl, err := json.Marshal(contract.DeadLetter{
		Version: contract.Version, Stage: contract.StageDedup, Subject: contract.SubjectAlertsIn,
		Reason: reason.Error(), Payload: payload, FailedAt: d.opts.Now().UTC(),
	})
	if err != nil {
		return fault.Final(err)
	}
	sum := sha256.Sum256(append([]byte(in.Metadata.Get(bus.MetaStreamSeq)+"\x00"), payload...))
	out := message.NewMessage("dlq-"+hex.EncodeToString(sum[:12]), dl)
	out.Metadata.Set(bus.MetaMsgID, out.UUID)
	if err := d.pub.Publish(contract.DLQSubject(contract.StageDedup), out); err != nil {
		return fmt.Errorf("publish dead letter: %w", err)
	}
	return nil
}

func (d *Dedup) receivedAt(msg *message.Message) time.Time {
	for _, v := range []string{msg.Metadata.Get(contract.HeaderReceivedAt), msg.Metadata.Get(bus.MetaPublished)} {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return t
		}
	}
	return d.opts.Now()
}
