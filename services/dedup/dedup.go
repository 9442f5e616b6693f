// Package dedup is the dedup stage: it owns the alert lifecycle. It takes
// raw alerts from klaxon.alerts.in.<partition> (ingest splits by
// fingerprint; what a NATS client publishes on klaxon.alerts.in is split
// here first), validates them and applies Alertmanager's defaults, merges
// each into the alert's state and emits an AlertChanged on
// klaxon.alerts.changed only for a real change: a new alert, changed
// annotations, or firing↔resolved. Refreshes only update the state.
//
// Each partition is owned by one replica at a time (pkg/lease), which holds
// its alerts and expiry timers in memory (partition.go) and writes them
// behind to KV klaxon-alerts, the copy every other process reads and the
// next owner starts from. The rules themselves are pure functions in
// pkg/alert.
package dedup

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/bus"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/fault"
	"github.com/klaxon-alerts/klaxon/pkg/lease"
	"github.com/klaxon-alerts/klaxon/pkg/partition"
	"github.com/klaxon-alerts/klaxon/pkg/stage"
)

// Options configures the dedup stage.
type Options struct {
	stage.Deps
	// Retention is how long a resolved alert is kept after its end before
	// it is removed (Alertmanager's alert GC); default DefaultRetention.
	Retention time.Duration
}

// DefaultRetention keeps resolved alerts as long as Alertmanager's default
// garbage-collection interval may.
const DefaultRetention = 30 * time.Minute

// Dedup is the dedup stage.
type Dedup struct {
	opts    Options
	log     *slog.Logger
	pub     *bus.Publisher
	metrics metrics

	partitions *partition.Runner
	leases     *lease.Manager
}

// Ready reports whether the stage has taken its share of the partitions.
func (d *Dedup) Ready() error { return d.leases.Ready() }

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
	d := &Dedup{opts: opts, log: log, pub: bus.NewPublisher(opts.JS, log), metrics: m}
	// The partitions publish on their own: the splitter's publisher
	// closes with its router, before the partitions' last checkpoints.
	d.partitions = &partition.Runner{JS: opts.JS, Pub: bus.NewPublisher(opts.JS, log), Log: log, Input: partition.Input{
		Stream: contract.StreamInput, Subject: contract.AlertsInSubject, Consumer: contract.ConsumerDedupPartition, WorkQueue: true,
	}}
	d.leases = lease.New(lease.Options{JS: opts.JS, Stage: contract.StageDedup, Logger: log}, d)
	return d, nil
}

// Run shares the partitions with the other replicas and splits direct
// publishers' input until ctx is done.
func (d *Dedup) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return d.leases.Run(gctx) })
	g.Go(func() error {
		return d.opts.Run(gctx, contract.StageDedup, d.pub, stage.Consumer{
			Name: contract.StageDedup, Subject: contract.SubjectAlertsIn,
			Subscriber: stage.Durable(contract.StreamInput, contract.ConsumerDedup).WithConcurrency(8),
			Handle:     d.split,
		})
	})
	return g.Wait()
}

// split republishes a direct publisher's message on klaxon.alerts.in into
// the partitions of its alerts, stamped with its time of receipt. The ids
// derive from the input's stream position, so a redelivered input is split
// once. An alert that is invalid is passed on all the same: its partition's
// owner dead-letters it with the reason.
func (d *Dedup) split(msg *message.Message) error {
	postables, err := alert.DecodePostable(msg.Payload)
	if err != nil {
		d.metrics.invalid.Inc()
		return fault.Final(err)
	}
	parts := map[int][]alert.Postable{}
	for _, p := range postables {
		n := contract.PartitionOf(p.Fingerprint().String())
		parts[n] = append(parts[n], p)
	}
	at := d.opts.Now()
	for _, v := range []string{msg.Metadata.Get(contract.HeaderReceivedAt), msg.Metadata.Get(bus.MetaPublished)} {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			at = t
			break
		}
	}
	for n, ps := range parts {
		body, err := json.Marshal(ps)
		if err != nil {
			return fault.Final(err)
		}
		out := message.NewMessage(fmt.Sprintf("split-%s-%d", msg.Metadata.Get(bus.MetaStreamSeq), n), body)
		out.Metadata.Set(bus.MetaMsgID, out.UUID)
		out.Metadata.Set(contract.HeaderReceivedAt, at.UTC().Format(time.RFC3339Nano))
		if err := d.pub.Publish(contract.AlertsInSubject(n), out); err != nil {
			return fmt.Errorf("split into partition %d: %w", n, err)
		}
	}
	return nil
}

// Acquire starts owning partitions (lease.Owner): their alerts are loaded
// from the bucket, then they run (pkg/partition).
func (d *Dedup) Acquire(ctx context.Context, ps []int) error {
	states, err := d.load(ctx, ps)
	if err != nil {
		return err
	}
	if err := d.partitions.StartAll(ctx, ps, func(p int) partition.State { return d.newPartition(p, states[p]) }); err != nil {
		return fmt.Errorf("dedup: %w", err)
	}
	return nil
}

// Release stops owning partitions (lease.Owner).
func (d *Dedup) Release(_ context.Context, ps []int, graceful bool) { d.partitions.Stop(ps, graceful) }

// load reads the bucket's alerts of partitions ps.
func (d *Dedup) load(ctx context.Context, ps []int) (map[int]map[string]*alert.Stored, error) {
	states := map[int]map[string]*alert.Stored{}
	for _, p := range ps {
		states[p] = map[string]*alert.Stored{}
	}
	err := partition.Scan(ctx, d.opts.JS, contract.BucketAlerts, ps, contract.PartitionOf, func(e jetstream.KeyValueEntry) {
		var s alert.Stored
		if err := s.UnmarshalJSON(e.Value()); err != nil { // no encoding/json scan before it
			d.log.Warn("stored alert not decodable; skipped", "fingerprint", e.Key(), "err", err)
			return
		}
		d.opts.Pool.Share(e.Key(), &s.Alert)
		states[contract.PartitionOf(e.Key())][e.Key()] = &s
	})
	if err != nil {
		return nil, fmt.Errorf("dedup: %w", err)
	}
	return states, nil
}

// newPartition is partition p's state from its loaded alerts, with their
// timers armed.
func (d *Dedup) newPartition(p int, alerts map[string]*alert.Stored) *alertPartition {
	pt := &alertPartition{d: d, p: p, alerts: alerts, dirty: map[string]struct{}{}, deferred: map[string]time.Time{}}
	for fp, s := range alerts {
		if s.ExpiryAt.IsZero() {
			s.ExpiryAt, _ = alert.NextExpiry(*s, d.opts.Now(), d.opts.Retention)
		}
		pt.timers.Add(s.ExpiryAt, fp)
	}
	return pt
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

// receivedAt is when an input was received: the header ingest and split
// set, else the time JetStream stored it, else now.
func receivedAt(msg jetstream.Msg, now func() time.Time) time.Time {
	if t, err := time.Parse(time.RFC3339Nano, msg.Headers().Get(contract.HeaderReceivedAt)); err == nil {
		return t
	}
	if md, err := msg.Metadata(); err == nil {
		return md.Timestamp
	}
	return now()
}
