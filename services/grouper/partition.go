package grouper

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/partition"
)

// groupPartition is one partition's groups while this replica owns it
// (pkg/lease, run by pkg/partition), with their flush timers.
//
// KV klaxon-groups holds a group as one small value, its route and timing
// ("<group id>"), one value per alert ("<group id>.<fingerprint>") and the
// notification-log state of its last notification ("<group id>.notified",
// written only when a flush notifies), so that an alert's change writes
// that alert and the small value alone. A flush owes its notifications first and the group's new state
// second: a crash between the two repeats the flush with the same message
// ids, which JetStream drops.
type groupPartition struct {
	g      *Grouper
	p      int
	groups map[string]*Group
	timers partition.Timers

	// Owed since the last checkpoint.
	outbox   []*nats.Msg                    // notifications, dead letters
	ticks    []time.Time                    // of the flushes that notify
	state    map[string]struct{}            // groups whose state is to be written
	notified map[string]struct{}            // groups whose notification-log state is to be written
	members  map[string]map[string]struct{} // group → alerts to be written
	gone     map[string][]string            // deleted group → its alerts' keys
}

func (g *Grouper) newPartition(p int, groups map[string]*Group) *groupPartition {
	gp := &groupPartition{
		g: g, p: p, groups: groups,
		state: map[string]struct{}{}, notified: map[string]struct{}{}, members: map[string]map[string]struct{}{}, gone: map[string][]string{},
	}
	for id, grp := range groups {
		if !grp.NextFlush.IsZero() {
			gp.timers.Add(grp.NextFlush, id)
		}
	}
	return gp
}

// Handle folds one routed alert change into its group.
func (gp *groupPartition) Handle(_ context.Context, msg jetstream.Msg) {
	ev, err := contract.Decode[contract.AlertRouted](msg.Data())
	if err != nil {
		gp.deadLetter(msg, err)
		return
	}
	now := gp.g.opts.Now()
	id := contract.GroupID(ev.Route.ID, ev.Route.GroupKey)
	grp, ok := gp.groups[id]
	if !ok {
		grp = NewGroup(ev.Route, now)
	}
	before := grp.NextFlush
	gp.g.opts.Pool.Share(ev.Fingerprint, &ev.Alert)
	if !grp.Add(ev.Fingerprint, ev.Alert, ev.Route, now) {
		return // a redelivered or older state
	}
	if !ok {
		gp.groups[id] = grp
		gp.g.groups.WithLabelValues("created").Inc()
	}
	gp.state[id] = struct{}{}
	if gp.members[id] == nil {
		gp.members[id] = map[string]struct{}{}
	}
	gp.members[id][ev.Fingerprint] = struct{}{}
	if !grp.NextFlush.Equal(before) {
		gp.timers.Add(grp.NextFlush, id)
	}
}

// Fire flushes every group whose tick is due.
func (gp *groupPartition) Fire(ctx context.Context, _ time.Time) {
	now := gp.g.opts.Now()
	if now.Before(gp.g.notBefore) {
		return
	}
	for {
		t, ok := gp.timers.Due(now)
		if !ok {
			return
		}
		grp, ok := gp.groups[t.Key]
		if !ok || !grp.NextFlush.Equal(t.At) {
			gp.g.flushes.WithLabelValues("stale").Inc()
			continue
		}
		if err := gp.flush(ctx, grp, t.At, now); err != nil {
			gp.g.log.Warn("flush failed; retried in a second", "group", grp.Route.GroupKey, "err", err)
			grp.NextFlush = now.Add(time.Second)
			gp.timers.Add(grp.NextFlush, t.Key)
		}
	}
}

// flush flushes grp for its tick at at.
func (gp *groupPartition) flush(ctx context.Context, grp *Group, at, now time.Time) error {
	grp.Refresh(gp.g.opts.Latest)
	f := grp.Snapshot(at)
	msgs, err := gp.g.publishFlush(ctx, grp, &f, now)
	if err != nil {
		return err
	}
	gp.outbox = append(gp.outbox, msgs...)
	if len(msgs) > 0 {
		gp.ticks = append(gp.ticks, at)
	}
	gp.g.flushes.WithLabelValues("flushed").Inc()
	var before map[string]struct{} // a split group's alerts: their keys may go
	if grp.Split {
		before = make(map[string]struct{}, len(grp.Alerts))
		for fp := range grp.Alerts {
			before[fp] = struct{}{}
		}
	}
	if !grp.AfterFlush(f, now) {
		delete(gp.groups, grp.ID)
		delete(gp.state, grp.ID)
		delete(gp.notified, grp.ID)
		delete(gp.members, grp.ID)
		gp.gone[grp.ID] = append(gp.gone[grp.ID], grp.splitKeys(before)...)
		gp.g.groups.WithLabelValues("deleted").Inc()
		return nil
	}
	gp.state[grp.ID] = struct{}{}
	if len(f.Notified) > 0 {
		gp.notified[grp.ID] = struct{}{}
	}
	for fp := range before {
		if _, ok := grp.Alerts[fp]; !ok { // resolved and notified: it leaves
			gp.gone[grp.ID] = append(gp.gone[grp.ID], grp.ID+"."+fp)
		}
	}
	if !grp.NextFlush.IsZero() {
		gp.timers.Add(grp.NextFlush, grp.ID)
	}
	return nil
}

// Next is when the earliest flush is due (not before the start delay).
func (gp *groupPartition) Next() time.Time {
	at := gp.timers.Next()
	if at.IsZero() || at.After(gp.g.notBefore) {
		return at
	}
	return gp.g.notBefore
}

// inlineMaxBytes bounds a group stored as one value (see Owed).
const inlineMaxBytes = 8 << 10

// Owed returns the notifications, then the groups' values. A group whose
// value stays within inlineMaxBytes is one value: route, timing, alerts and
// notification state together, so a new group costs one write. A group
// that outgrows it is split for good (Group.Split): its state, one value
// per alert and its notification state under keys of their own, so that no
// value grows with its alerts.
func (gp *groupPartition) Owed() [][]*nats.Msg {
	var writes []*nats.Msg
	put := func(key string, v any) {
		data, _ := json.Marshal(v) // groups and alerts always encode
		writes = append(writes, partition.KVPut(contract.BucketGroups, key, data))
	}
	del := func(key string) { writes = append(writes, partition.KVDelete(contract.BucketGroups, key)) }
	for id, keys := range gp.gone {
		for _, key := range keys {
			del(key)
		}
		if _, ok := gp.groups[id]; !ok {
			del(id)
		}
	}
	changed := slices.Collect(maps.Keys(gp.state))
	for id := range gp.notified {
		if _, ok := gp.state[id]; !ok {
			changed = append(changed, id)
		}
	}
	for _, id := range changed {
		grp, ok := gp.groups[id]
		if !ok {
			continue
		}
		if !grp.Split {
			data, _ := json.Marshal(grp)
			if len(data) <= inlineMaxBytes {
				writes = append(writes, partition.KVPut(contract.BucketGroups, id, data))
				continue
			}
			gp.split(grp)
		}
		for fp := range gp.members[id] {
			if a, ok := grp.Alerts[fp]; ok {
				put(id+"."+fp, a)
			}
		}
		state := *grp
		state.Alerts, state.Notified = nil, nil // values of their own
		put(id, state)
		if _, ok := gp.notified[id]; ok {
			put(id+"."+contract.GroupNotifiedKey, grp.Notified)
		}
	}
	return [][]*nats.Msg{gp.outbox, writes}
}

// split makes grp's alerts and notification state values of their own from
// now on: each of them is owed once.
func (gp *groupPartition) split(grp *Group) {
	grp.Split = true
	members := make(map[string]struct{}, len(grp.Alerts))
	for fp := range grp.Alerts {
		members[fp] = struct{}{}
	}
	gp.members[grp.ID] = members
	gp.notified[grp.ID] = struct{}{}
}

// StageStored observes, once the notifications (the first stage Owed
// returns) are stored, how late after its tick each flush left.
func (gp *groupPartition) StageStored(stage int) {
	if stage != 0 {
		return
	}
	now := gp.g.opts.Now()
	for _, at := range gp.ticks {
		gp.g.lateness.Observe(now.Sub(at).Seconds())
	}
	gp.ticks = gp.ticks[:0]
}

// Committed forgets what was owed.
func (gp *groupPartition) Committed() {
	gp.outbox = gp.outbox[:0]
	clear(gp.state)
	clear(gp.notified)
	clear(gp.members)
	clear(gp.gone)
}

func (gp *groupPartition) deadLetter(in jetstream.Msg, reason error) {
	m, err := partition.DeadLetter(contract.StageGrouper, in, in.Data(), reason, gp.g.opts.Now())
	if err != nil {
		gp.g.log.Error("dead letter not encodable; dropped", "err", err)
		return
	}
	gp.outbox = append(gp.outbox, m)
}

// load reads the groups of partitions ps from the bucket: each group's
// state and its alerts' values. A value written by an earlier version
// holds the alerts itself; it is read as well.
func (g *Grouper) load(ctx context.Context, ps []int) (map[int]map[string]*Group, error) {
	states := map[int]map[string]*Group{}
	for _, p := range ps {
		states[p] = map[string]*Group{}
	}
	groupOf := func(key string) string { id, _, _ := strings.Cut(key, "."); return id }
	members := map[string]map[string]*alert.Alert{}
	notified := map[string][]Notified{}
	err := partition.Scan(ctx, g.opts.JS, contract.BucketGroups, ps,
		func(key string) int { return contract.PartitionOf(groupOf(key)) },
		func(e jetstream.KeyValueEntry) {
			id, fp, member := strings.Cut(e.Key(), ".")
			if fp == contract.GroupNotifiedKey {
				var n []Notified
				if err := alert.Unmarshal(e.Value(), &n); err != nil {
					g.log.Warn("group notification state not decodable; skipped", "key", e.Key(), "err", err)
					return
				}
				notified[id] = n
				return
			}
			if member {
				var a alert.Alert
				if err := a.UnmarshalJSON(e.Value()); err != nil {
					g.log.Warn("group alert not decodable; skipped", "key", e.Key(), "err", err)
					return
				}
				if members[id] == nil {
					members[id] = map[string]*alert.Alert{}
				}
				members[id][fp] = &a
				return
			}
			var grp Group
			if err := alert.Unmarshal(e.Value(), &grp); err != nil {
				g.log.Warn("group not decodable; skipped", "key", e.Key(), "err", err)
				return
			}
			if grp.Alerts == nil {
				grp.Alerts = map[string]*alert.Alert{}
			}
			states[contract.PartitionOf(id)][id] = &grp
		})
	if err != nil {
		return nil, fmt.Errorf("grouper: %w", err)
	}
	for id, n := range notified {
		if grp, ok := states[contract.PartitionOf(id)][id]; ok {
			grp.Notified, grp.Split = n, true
		}
	}
	for id, as := range members {
		grp, ok := states[contract.PartitionOf(id)][id]
		if !ok {
			continue // alerts of a group deleted meanwhile
		}
		grp.Split = true
		for fp, a := range as {
			grp.Alerts[fp] = a
		}
	}
	if pool := g.opts.Pool; pool != nil {
		for _, groups := range states {
			for _, grp := range groups {
				for fp, a := range grp.Alerts {
					pool.Share(fp, a)
				}
			}
		}
	}
	return states, nil
}
