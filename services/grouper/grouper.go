// Package grouper is the grouper stage: it keeps Alertmanager's aggregation
// groups in KV (klaxon-groups) and decides when each group flushes. Timers are
// JetStream scheduled messages, one schedule subject per group, so a pending
// flush survives any restart and a tick reaches exactly one replica through a
// shared durable consumer. A flush publishes one Notification per receiver
// integration on klaxon.notify.<type>; the notifier decides, from its
// notification log, whether it is sent.
//
// The timing rules are the pure methods of Group; this file is the adapter.
package grouper

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/bus"
	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/fault"
	"github.com/klaxon-alerts/klaxon/pkg/kvjson"
	"github.com/klaxon-alerts/klaxon/pkg/stage"
)

// routedConcurrency is how many routed alerts the grouper works on at once.
// More keep the NATS server busy while each waits on its group's KV round
// trips; alerts of one group then conflict on its compare-and-set and
// retry, so it stays moderate.
const routedConcurrency = 16

// Options configures the grouper stage.
type Options struct {
	stage.Deps
	// Muter, if set, removes silenced, inhibited and time-muted alerts from
	// every flush.
	Muter Muter
	// Latest, if set, gives dedup's newest state of an alert, so that a
	// flush judges every alert by its latest endsAt (Group.Refresh).
	Latest Latest
}

// Muter decides at flush time which alerts of a group are not notified:
// Alertmanager's inhibition, silence and time-interval stages. muted[i] is
// true when alerts[i] is to be left out.
type Muter interface {
	Mute(ctx context.Context, route contract.Route, alerts []alert.Alert, now time.Time) (reasons []string, err error)
}

// Grouper is the grouper stage.
type Grouper struct {
	opts    Options
	log     *slog.Logger
	pub     *bus.Publisher
	flushes *prometheus.CounterVec
	groups  *prometheus.CounterVec
	// suppressed counts the alerts flushes left out, by reason.
	suppressed *prometheus.CounterVec
}

// New builds the stage; Run starts it.
func New(opts Options) (*Grouper, error) {
	deps, err := opts.Resolve(contract.StageGrouper)
	if err != nil {
		return nil, err
	}
	opts.Deps = deps
	log := opts.Logger
	g := &Grouper{
		opts: opts, log: log, pub: bus.NewPublisher(opts.JS, log),
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
	if err := opts.Register(g.flushes, g.groups, g.suppressed); err != nil {
		return nil, err
	}
	return g, nil
}

// Run consumes klaxon.alerts.routed and the group ticks until ctx is done.
func (g *Grouper) Run(ctx context.Context) error {
	kv, err := g.opts.JS.KeyValue(ctx, contract.BucketGroups)
	if err != nil {
		return fmt.Errorf("grouper: bucket %s: %w", contract.BucketGroups, err)
	}
	return g.opts.Run(ctx, contract.StageGrouper, g.pub,
		stage.Consumer{
			Name: "grouper-routed", Subject: contract.SubjectAlertsRouted,
			Subscriber: stage.Durable(contract.StreamAlerts, contract.ConsumerGrouper).WithConcurrency(routedConcurrency),
			Handle: stage.Handle(func(ctx context.Context, ev contract.AlertRouted) error {
				return g.handleRouted(ctx, kv, ev)
			}),
		},
		stage.Consumer{
			Name: "grouper-ticks", Subject: contract.SubjectTickGroupPrefix + ">",
			Subscriber: stage.Durable(contract.StreamTimers, contract.ConsumerTicks),
			Handle: stage.Handle(func(ctx context.Context, tick contract.Tick) error {
				return g.handleTick(ctx, kv, tick)
			}),
		})
}

// handleRouted adds an alert change to its group. The timer is published
// after the state is stored, and again for a redelivered event, so a crash
// in between leaves no group without its timer.
func (g *Grouper) handleRouted(ctx context.Context, kv jetstream.KeyValue, ev contract.AlertRouted) error {
	id := GroupID(ev.Route.ID, ev.Route.GroupKey)
	now := g.opts.Now()
	created := false
	entry, err := kvjson.Mutate(ctx, kv, id, func(cur *Group) (*Group, error) {
		grp := cur
		created = cur == nil
		if grp == nil {
			grp = NewGroup(ev.Route, now)
		}
		if !grp.Add(ev.Fingerprint, ev.Alert, ev.Route, now) && cur != nil {
			return nil, kvjson.ErrNoChange
		}
		return grp, nil
	})
	if err != nil {
		return fmt.Errorf("group %s: %w", id, err)
	}
	if created {
		g.groups.WithLabelValues("created").Inc()
	}
	return g.schedule(entry.Value)
}

// handleTick flushes a group when its tick is due. Notifications are
// published before the group is updated; their ids carry the flush sequence,
// so a redelivered tick republishes the same ids and JetStream drops them.
func (g *Grouper) handleTick(ctx context.Context, kv jetstream.KeyValue, tick contract.Tick) error {
	// An early tick (scheduled ahead of its time) waits here, before the
	// group is read, so the flush holds what arrived meanwhile.
	if err := bus.HoldUntil(ctx, tick.At, g.opts.Now()); err != nil {
		return err
	}
	cur, err := kvjson.Get[Group](ctx, kv, tick.GroupID)
	if err != nil {
		return err
	}
	grp := cur.Value
	if grp == nil || grp.NextFlush.IsZero() {
		g.flushes.WithLabelValues("stale").Inc()
		return nil
	}
	if !grp.Due(tick.At) {
		// An earlier schedule replaced a later one: put the right one back.
		g.flushes.WithLabelValues("stale").Inc()
		return g.schedule(grp, "-r"+strconv.FormatInt(tick.At.UnixNano(), 36))
	}
	now := g.opts.Now()
	grp.Refresh(g.opts.Latest)
	flush := grp.Snapshot(tick.At)
	if err := g.publishFlush(ctx, grp, &flush, now); err != nil {
		return err
	}
	entry, err := kvjson.Mutate(ctx, kv, tick.GroupID, func(cur *Group) (*Group, error) {
		if cur == nil {
			return nil, nil
		}
		cur.Refresh(g.opts.Latest)
		if !cur.AfterFlush(flush, now) {
			return nil, nil
		}
		return cur, nil
	})
	if err != nil {
		return fmt.Errorf("group %s after flush: %w", tick.GroupID, err)
	}
	g.flushes.WithLabelValues("flushed").Inc()
	if entry.Value == nil {
		g.groups.WithLabelValues("deleted").Inc()
		return nil
	}
	return g.schedule(entry.Value)
}

// publishFlush publishes one Notification per integration of the group's
// receiver, without its muted alerts, when the notification log's rules say
// that some integration notifies (it records in f what muting and those
// rules made of the flush). A group that never notified and has nothing
// firing (it fired and resolved within group_wait) publishes nothing, and so
// does a flush whose alerts are all muted.
func (g *Grouper) publishFlush(ctx context.Context, grp *Group, f *Flush, now time.Time) error {
	if grp.FlushSeq == 0 && f.Firing(now) == 0 {
		return nil
	}
	alerts := f.Alerts
	if g.opts.Muter != nil {
		reasons, err := g.opts.Muter.Mute(ctx, grp.Route, f.Alerts, now)
		if err != nil {
			return fmt.Errorf("mute: %w", err)
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
			return nil
		}
	}
	receiver := g.opts.Config().Receiver(grp.Route.Receiver)
	if receiver == nil {
		g.log.Warn("receiver not in running config; flush not notified", "receiver", grp.Route.Receiver, "group", grp.Route.GroupKey)
		return nil
	}
	integrations := Integrations(receiver)
	f.Notified = grp.Notify(alerts, sendResolvedKinds(receiver), now)
	if len(f.Notified) == 0 {
		g.flushes.WithLabelValues("unchanged").Inc()
		return nil
	}
	for _, in := range integrations {
		body, err := json.Marshal(contract.Notification{
			Version: contract.Version, Integration: in,
			GroupID: grp.ID, GroupKey: grp.Route.GroupKey, GroupLabels: grp.Route.GroupLabels,
			Alerts: alerts, RepeatInterval: grp.Route.RepeatInterval,
			FlushSeq: f.Seq, FlushedAt: now,
		})
		if err != nil {
			return fault.Final(err)
		}
		m := message.NewMessage(notificationID(grp, *f, in), body)
		m.Metadata.Set(bus.MetaMsgID, m.UUID)
		if err := g.pub.Publish(contract.NotifySubject(in.Type), m); err != nil {
			return fmt.Errorf("publish notification: %w", err)
		}
	}
	return nil
}

// notificationID is the flush's deterministic message id. A group emptied
// and created again restarts its flush sequence, so its creation time is
// part of the id: otherwise the new group's first flush would be dropped as
// a duplicate of the old group's.
func notificationID(grp *Group, f Flush, in contract.Integration) string {
	return "ntf-" + grp.ID + "-" + strconv.FormatInt(grp.CreatedAt.UnixNano(), 36) + "-" +
		strconv.FormatUint(f.Seq, 10) + "-" + in.Type + "-" + strconv.Itoa(in.Index)
}

// schedule (re)publishes the group's timer. Re-publishing on the same
// schedule subject replaces the previous timer. The message id names the
// decision (flush sequence and time, and a suffix for a timer put back), so
// a redelivered event republishes the same id and JetStream drops it, while
// a later decision for the same time — the repeat at 10 planned again after
// a flush at 4 replaced it — is not mistaken for a duplicate.
func (g *Grouper) schedule(grp *Group, suffix ...string) error {
	if grp == nil || grp.NextFlush.IsZero() {
		return nil
	}
	body, err := json.Marshal(contract.Tick{Version: contract.Version, GroupID: grp.ID, Seq: grp.FlushSeq, At: grp.NextFlush})
	if err != nil {
		return fault.Final(err)
	}
	id := "tmr-" + grp.ID + "-" + strconv.FormatUint(grp.FlushSeq, 10) + "-" +
		strconv.FormatInt(grp.NextFlush.UnixNano(), 36) + strings.Join(suffix, "")
	subject, m := bus.Timer(id, body, grp.NextFlush, g.opts.Now(), contract.TimerSubject(grp.ID), contract.TickSubject(grp.ID))
	if err := g.pub.Publish(subject, m); err != nil {
		return fmt.Errorf("publish timer: %w", err)
	}
	return nil
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
