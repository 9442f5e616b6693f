// Package grouper is the grouper stage: it keeps Alertmanager's aggregation
// groups and decides when each group flushes. Groups are partitioned by
// their id; each partition is owned by one replica at a time (pkg/lease),
// which holds its groups and their flush timers in memory and writes them
// behind to KV klaxon-groups (partition.go), where the next owner finds
// them. A flush publishes one Notification per receiver integration on
// klaxon.notify.<type>; the notifier decides, from its notification log,
// whether it is sent.
//
// The timing rules are the pure methods of Group; this file is the adapter.
package grouper

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/bus"
	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/largeflush"
	"github.com/klaxon-alerts/klaxon/pkg/lease"
	"github.com/klaxon-alerts/klaxon/pkg/partition"
	"github.com/klaxon-alerts/klaxon/pkg/stage"
)

// Options configures the grouper stage.
type Options struct {
	stage.Deps
	// Muter, if set, removes silenced, inhibited and time-muted alerts from
	// every flush.
	Muter Muter
	// Latest, if set, gives dedup's newest state of an alert, so that a
	// flush judges every alert by its latest endsAt (Group.Refresh).
	Latest Latest
	// StartDelay holds every flush until this long after the start
	// (Alertmanager's --dispatch.start-delay).
	StartDelay time.Duration
}

// Muter decides at flush time which alerts of a group are not notified:
// Alertmanager's inhibition, silence and time-interval stages. muted[i] is
// true when alerts[i] is to be left out.
type Muter interface {
	Mute(ctx context.Context, route contract.Route, alerts []alert.Alert, now time.Time) (reasons []string, err error)
}

// Grouper is the grouper stage.
type Grouper struct {
	opts Options
	log  *slog.Logger
	pub  *bus.Publisher
	// large keeps the alerts of notifications too large for a message.
	large   *largeflush.Store
	flushes *prometheus.CounterVec
	groups  *prometheus.CounterVec
	// suppressed counts the alerts flushes left out, by reason.
	suppressed *prometheus.CounterVec
	// lateness is how long after its tick a flush's notifications were
	// stored: when they left the grouper.
	lateness   prometheus.Histogram
	partitions *partition.Runner
	leases     *lease.Manager
	// notBefore is the start plus StartDelay.
	notBefore time.Time
}

// Ready reports whether the stage has taken its share of the partitions.
func (g *Grouper) Ready() error { return g.leases.Ready() }

// New builds the stage; Run starts it.
func New(opts Options) (*Grouper, error) {
	deps, err := opts.Resolve(contract.StageGrouper)
	if err != nil {
		return nil, err
	}
	opts.Deps = deps
	log := opts.Logger
	g := &Grouper{
		opts: opts, log: log, pub: bus.NewPublisher(opts.JS, log), large: largeflush.New(opts.JS),
		flushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "klaxon_grouper_flushes_total", Help: "Group flushes, by outcome (flushed, stale: a replaced tick).",
		}, []string{"outcome"}),
		groups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "klaxon_grouper_groups_total", Help: "Aggregation groups created and deleted (emptied after their last flush).",
		}, []string{"event"}),
	}
	g.suppressed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "klaxon_grouper_alerts_suppressed_total", Help: "Alerts a flush left out, by reason (silence, inhibition, time_interval).",
	}, []string{"reason"})
	g.lateness = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "klaxon_grouper_flush_lateness_seconds",
		Help:    "How long after its tick a flush that notifies was stored on klaxon.notify: when it left the grouper.",
		Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5},
	})
	if err := opts.Register(g.flushes, g.groups, g.suppressed, g.lateness); err != nil {
		return nil, err
	}
	g.partitions = &partition.Runner{JS: opts.JS, Pub: g.pub, Log: log, Input: partition.Input{
		Stream: contract.StreamRouted, Subject: contract.AlertsRoutedSubject, Consumer: contract.ConsumerGrouperPartition,
	}}
	g.notBefore = opts.Now().Add(opts.StartDelay)
	g.leases = lease.New(lease.Options{JS: opts.JS, Stage: contract.StageGrouper, Logger: log}, g)
	return g, nil
}

// Run shares the partitions with the other replicas until ctx is done.
func (g *Grouper) Run(ctx context.Context) error {
	g.log.Info("stage started")
	err := g.leases.Run(ctx)
	g.log.Info("stage stopped")
	return err
}

// Acquire starts owning partitions (lease.Owner): their groups are loaded
// from the bucket, then they run (pkg/partition).
func (g *Grouper) Acquire(ctx context.Context, ps []int) error {
	states, err := g.load(ctx, ps)
	if err != nil {
		return err
	}
	if err := g.partitions.StartAll(ctx, ps, func(p int) partition.State { return g.newPartition(p, states[p]) }); err != nil {
		return fmt.Errorf("grouper: %w", err)
	}
	return nil
}

// Release stops owning partitions (lease.Owner).
func (g *Grouper) Release(_ context.Context, ps []int, graceful bool) {
	g.partitions.Stop(ps, graceful)
}

// publishFlush returns one Notification per integration of the group's
// receiver, without its muted alerts, when the notification log's rules say
// that some integration notifies (it records in f what muting and those
// rules made of the flush). A group that never notified and has nothing
// firing (it fired and resolved within group_wait) publishes nothing, and so
// does a flush whose alerts are all muted.
func (g *Grouper) publishFlush(ctx context.Context, grp *Group, f *Flush, now time.Time) ([]*nats.Msg, error) {
	if grp.FlushSeq == 0 && f.Firing(now) == 0 {
		return nil, nil
	}
	alerts := f.Alerts
	if g.opts.Muter != nil {
		reasons, err := g.opts.Muter.Mute(ctx, grp.Route, f.Alerts, now)
		if err != nil {
			return nil, fmt.Errorf("mute: %w", err)
		}
		alerts = make([]alert.Alert, 0, len(f.Alerts))
		for i, a := range f.Alerts {
			if reasons[i] == "" {
				alerts = append(alerts, a)
			} else {
				g.suppressed.WithLabelValues(reasons[i]).Inc()
			}
		}
		f.Muted = len(alerts) < len(f.Alerts)
		if len(alerts) == 0 {
			g.flushes.WithLabelValues("muted").Inc()
			return nil, nil
		}
	}
	receiver := g.opts.Config().Receiver(grp.Route.Receiver)
	if receiver == nil {
		g.log.Warn("receiver not in running config; flush not notified", "receiver", grp.Route.Receiver, "group", grp.Route.GroupKey)
		return nil, nil
	}
	integrations := Integrations(receiver)
	f.Notified = grp.Notify(alerts, sendResolvedKinds(receiver), now)
	if len(f.Notified) == 0 {
		g.flushes.WithLabelValues("unchanged").Inc()
		return nil, nil
	}
	out := make([]*nats.Msg, 0, len(integrations))
	for _, in := range integrations {
		id := notificationID(grp, *f, in)
		body, err := g.large.Encode(ctx, id, contract.Notification{
			Version: contract.Version, Integration: in,
			GroupID: grp.ID, GroupKey: grp.Route.GroupKey, GroupLabels: grp.Route.GroupLabels,
			Alerts: alerts, RepeatInterval: grp.Route.RepeatInterval,
			FlushSeq: f.Seq, FlushedAt: now,
		})
		if err != nil {
			return nil, err // a flush retried in a second
		}
		m := nats.NewMsg(contract.NotifySubject(in.Type))
		m.Data = body
		m.Header.Set(jetstream.MsgIDHeader, id)
		out = append(out, m)
	}
	return out, nil
}

// notificationID is the flush's deterministic message id. A group emptied
// and created again restarts its flush sequence, so its creation time is
// part of the id: otherwise the new group's first flush would be dropped as
// a duplicate of the old group's.
func notificationID(grp *Group, f Flush, in contract.Integration) string {
	return "ntf-" + grp.ID + "-" + strconv.FormatInt(grp.CreatedAt.UnixNano(), 36) + "-" +
		strconv.FormatUint(f.Seq, 10) + "-" + in.Type + "-" + strconv.Itoa(in.Index)
}

// Integrations lists a receiver's integrations in config.Receiver's stable
// order, each with its index among the receiver's configurations of its
// type.
func Integrations(r *config.Receiver) []contract.Integration {
	var out []contract.Integration
	for _, in := range r.Integrations() {
		out = append(out, contract.Integration{Receiver: r.Name, Type: in.Type, Index: in.Index})
	}
	return out
}

// sendResolvedKinds are the distinct send_resolved values of a receiver's
// integrations: the kinds of notification log state its groups keep.
func sendResolvedKinds(r *config.Receiver) []bool {
	var kinds []bool
	for _, in := range r.Integrations() {
		if sr := in.Config.SendsResolved(); !slices.Contains(kinds, sr) {
			kinds = append(kinds, sr)
		}
	}
	return kinds
}
