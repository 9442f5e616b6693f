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
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"golang.org/x/sync/errgroup"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/bus"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/fault"
	"github.com/klaxon-alerts/klaxon/pkg/kvjson"
	"github.com/klaxon-alerts/klaxon/pkg/stage"
)

// Options configures the dedup stage.
type Options struct {
	stage.Deps
	// Retention is how long a resolved alert is kept after its end before
	// it is removed (Alertmanager's alert GC); default DefaultRetention.
	Retention time.Duration
}

// publishedIDs bounds the outbox ids remembered as published: more than the
// alerts refreshed between two changes of one alert under any load seen.
const publishedIDs = 1 << 16

// inputConcurrency is how many input messages dedup works on at once: each
// waits on KV round trips, so many in flight keep the NATS server busy
// (8 gave a third of the throughput at 2,000 alerts/s).
const inputConcurrency = 64

// DefaultRetention keeps resolved alerts as long as Alertmanager's default
// garbage-collection interval may.
const DefaultRetention = 30 * time.Minute

// Dedup is the dedup stage.
type Dedup struct {
	opts    Options
	log     *slog.Logger
	pub     *bus.Publisher
	metrics metrics
	// published skips outbox messages already published (a round trip
	// each, on every later mutation of the alert, before).
	published *published
}

type metrics struct {
	invalid prometheus.Counter
	changes *prometheus.CounterVec
}

// New builds the stage; Run starts it.
func New(opts Options) (*Dedup, error) {
	deps, err := opts.Resolve(contract.StageDedup)
	if err != nil {
		return nil, err
	}
	opts.Deps = deps
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	log := opts.Logger
	m := metrics{
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "klaxon_dedup_alerts_total", Help: "Alerts processed by dedup, by the change they made (none: refresh).",
		}, []string{"change"}),
		invalid: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "klaxon_dedup_alerts_invalid_total", Help: "Alerts rejected by validation and dead-lettered.",
		}),
	}
	if err := opts.Register(m.changes, m.invalid); err != nil {
		return nil, err
	}
	return &Dedup{opts: opts, log: log, pub: bus.NewPublisher(opts.JS, log), metrics: m, published: newPublished(publishedIDs)}, nil
}

// Run consumes klaxon.alerts.in until ctx is done.
func (d *Dedup) Run(ctx context.Context) error {
	kv, err := d.opts.JS.KeyValue(ctx, contract.BucketAlerts)
	if err != nil {
		return fmt.Errorf("dedup: bucket %s: %w", contract.BucketAlerts, err)
	}
	return d.opts.Run(ctx, contract.StageDedup, d.pub,
		stage.Consumer{
			Name: contract.StageDedup, Subject: contract.SubjectAlertsIn,
			Subscriber: stage.Durable(contract.StreamInput, contract.ConsumerDedup).WithConcurrency(inputConcurrency),
			Handle:     func(msg *message.Message) error { return d.handle(msg.Context(), kv, msg) },
		},
		stage.Consumer{
			Name: "dedup-expiry", Subject: contract.SubjectTickAlertPrefix + ">",
			Subscriber: stage.Durable(contract.StreamTimers, contract.ConsumerExpiry),
			Handle: stage.Handle(func(ctx context.Context, tick contract.AlertTick) error {
				return d.handleExpiry(ctx, kv, tick)
			}),
		})
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
	var valid []alert.Alert
	limit := alert.SizeLimit(d.opts.JS.Conn().MaxPayload())
	for i, p := range postables {
		a, err := p.Normalize(receivedAt, resolveTimeout)
		if err == nil && len(msg.Payload) > limit {
			err = checkSize(a, limit) // only a large message can hold a large alert
		}
		if err != nil {
			d.metrics.invalid.Inc()
			err = fmt.Errorf("alert %d %s: %w", i, alert.Describe(p.Labels), err)
			invalid = append(invalid, err)
			if len(postables) > 1 {
				if err := d.deadLetter(msg, p, err); err != nil {
					return err
				}
			}
			continue
		}
		valid = append(valid, a)
	}
	if len(invalid) == len(postables) && len(postables) == 1 {
		return fault.Final(invalid[0])
	}
	return d.applyAll(ctx, kv, valid)
}

// batchConcurrency is how many alerts of one input message dedup merges at
// once: a batch's alerts are independent, and each waits on KV round trips.
const batchConcurrency = 16

// applyAll merges a batch's alerts, those of different alerts concurrently
// and those of the same alert (fingerprint) in the order they came. An
// error leaves the message to be redelivered; merging an alert again is
// harmless (same state, same change ids).
func (d *Dedup) applyAll(ctx context.Context, kv jetstream.KeyValue, alerts []alert.Alert) error {
	if len(alerts) == 1 {
		return d.apply(ctx, kv, alerts[0])
	}
	byAlert := map[model.Fingerprint][]alert.Alert{}
	var order []model.Fingerprint
	for _, a := range alerts {
		fp := a.Fingerprint()
		if _, ok := byAlert[fp]; !ok {
			order = append(order, fp)
		}
		byAlert[fp] = append(byAlert[fp], a)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(batchConcurrency)
	for _, fp := range order {
		g.Go(func() error {
			for _, a := range byAlert[fp] {
				if err := d.apply(gctx, kv, a); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// checkSize refuses an alert too large to be stored end to end (a direct
// publisher's; ingest refuses them before they are stored).
func checkSize(a alert.Alert, limit int) error {
	encoded, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return alert.CheckSize(encoded, limit)
}

// record is dedup's KV value: the stored alert (its JSON reads as an
// alert.Alert) and its outbox.
//
// The outbox makes the write and the publishes one step: a mutation stores
// the change event and the expiry timer it owes together with the new state
// (compare-and-set), then publishes them. Only the writer that won the
// compare-and-set publishes, so concurrent replicas emit a change once. A
// crash after the write leaves the messages in the record; the next mutation
// of the alert (the redelivered input, a refresh, the expiry tick) publishes
// them first. Their ids are deterministic, so JetStream drops repeats.
type record struct {
	alert.Stored
	Outbox []outbound `json:"outbox,omitempty"`
}

// outbound is one message owed to JetStream.
type outbound struct {
	Subject string            `json:"subject"`
	ID      string            `json:"id"`
	Headers map[string]string `json:"headers,omitempty"`
	Data    []byte            `json:"data"`
}

func (o outbound) message() *message.Message {
	m := message.NewMessage(o.ID, o.Data)
	for k, v := range o.Headers {
		m.Metadata.Set(k, v)
	}
	m.Metadata.Set(bus.MetaMsgID, o.ID)
	return m
}

// apply merges a into the stored state.
func (d *Dedup) apply(ctx context.Context, kv jetstream.KeyValue, a alert.Alert) error {
	fp := a.Fingerprint().String()
	return d.mutate(ctx, kv, fp, func(cur *alert.Stored, now time.Time) (alert.Stored, alert.Change) {
		return alert.Apply(cur, a, now)
	})
}

// handleExpiry resolves an alert whose end time passed without a refresh,
// re-arms the timer of an alert that was refreshed meanwhile, and removes
// an alert resolved longer than the retention.
func (d *Dedup) handleExpiry(ctx context.Context, kv jetstream.KeyValue, tick contract.AlertTick) error {
	if err := bus.HoldUntil(ctx, tick.At, d.opts.Now()); err != nil {
		return err
	}
	return d.mutate(ctx, kv, tick.Fingerprint, func(cur *alert.Stored, now time.Time) (alert.Stored, alert.Change) {
		if cur == nil {
			return alert.Stored{}, alert.ChangeNone
		}
		if alert.Forgotten(*cur, now, d.opts.Retention) {
			return alert.Stored{}, alert.ChangeNone
		}
		next := *cur
		next.ExpiryAt = time.Time{} // this timer has fired
		return alert.Expire(next, now)
	})
}

// mutate runs one lifecycle step on the stored alert fp with
// compare-and-set and publishes what the step owes (see record).
func (d *Dedup) mutate(ctx context.Context, kv jetstream.KeyValue, fp string,
	step func(cur *alert.Stored, now time.Time) (alert.Stored, alert.Change)) error {
	var change alert.Change
	entry, err := kvjson.Mutate(ctx, kv, fp, func(cur *record) (*record, error) {
		var prev *alert.Stored
		if cur != nil {
			if err := d.publish(cur.Outbox); err != nil {
				return nil, err
			}
			prev = &cur.Stored
		}
		now := d.opts.Now()
		next, ch := step(prev, now)
		change = ch
		switch {
		case prev == nil && next.Labels == nil:
			return nil, kvjson.ErrNoChange
		case next.Labels == nil:
			return nil, nil // forgotten: delete
		}
		rec := &record{Stored: next}
		if ch != alert.ChangeNone {
			out, err := changeMessage(prev, next.Alert, ch, fp)
			if err != nil {
				return nil, err
			}
			rec.Outbox = append(rec.Outbox, out)
		}
		if at, arm := alert.NextExpiry(next, now, d.opts.Retention); arm {
			rec.ExpiryAt = at
			out, err := expiryMessage(fp, at, now)
			if err != nil {
				return nil, err
			}
			rec.Outbox = append(rec.Outbox, out)
		}
		return rec, nil
	})
	if err != nil {
		return fmt.Errorf("dedup alert %s: %w", fp, err)
	}
	if entry.Value != nil {
		if err := d.publish(entry.Value.Outbox); err != nil {
			return err
		}
	}
	label := string(change)
	if change == alert.ChangeNone {
		label = "none"
	}
	d.metrics.changes.WithLabelValues(label).Inc()
	return nil
}

func (d *Dedup) publish(outbox []outbound) error {
	for _, o := range outbox {
		if d.published.has(o.ID) {
			continue
		}
		if err := d.pub.Publish(o.Subject, o.message()); err != nil {
			return fmt.Errorf("publish %s: %w", o.Subject, err)
		}
		d.published.add(o.ID)
	}
	return nil
}

// changeMessage is the AlertChanged for a step; its id hashes the state
// before and after, so the same step always has the same id.
func changeMessage(prev *alert.Stored, next alert.Alert, ch alert.Change, fp string) (outbound, error) {
	body, err := json.Marshal(contract.AlertChanged{Version: contract.Version, Change: ch, Fingerprint: fp, Alert: next})
	if err != nil {
		return outbound{}, fault.Final(err)
	}
	before, _ := json.Marshal(prev)
	sum := sha256.Sum256(append(before, body...))
	return outbound{Subject: contract.SubjectAlertsChanged, ID: "chg-" + fp + "-" + hex.EncodeToString(sum[:12]), Data: body}, nil
}

// expiryMessage schedules the alert's expiry tick at at, replacing any
// earlier schedule of the alert.
func expiryMessage(fp string, at, now time.Time) (outbound, error) {
	body, err := json.Marshal(contract.AlertTick{Version: contract.Version, Fingerprint: fp, At: at})
	if err != nil {
		return outbound{}, fault.Final(err)
	}
	id := "exp-" + fp + "-" + strconv.FormatInt(at.UnixNano(), 36)
	subject, m := bus.Timer(id, body, at, now, contract.AlertTimerSubject(fp), contract.AlertTickSubject(fp))
	return outbound{Subject: subject, ID: id, Headers: m.Metadata, Data: body}, nil
}

// deadLetter sends one invalid alert of a batch to the dead-letter subject.
func (d *Dedup) deadLetter(in *message.Message, p alert.Postable, reason error) error {
	payload, err := json.Marshal(p)
	if err != nil {
		return fault.Final(err)
	}
	out, err := bus.DeadLetter(contract.StageDedup, in, payload, reason, d.opts.Now())
	if err != nil {
		return fault.Final(err)
	}
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
