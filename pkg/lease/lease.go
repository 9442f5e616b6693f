// Package lease shares a stage's partitions among its live replicas, each
// partition owned by exactly one replica at a time, so that the owner can
// hold the partition's state in memory and be its only writer.
//
// Everything lives in the KV bucket klaxon-leases:
//
//   - "<stage>.replica.<id>": a replica of the stage, written when it starts
//     and deleted when it stops;
//   - "<stage>.<partition>": the id of the partition's owner, taken with
//     create / compare-and-set, so two replicas never both win it.
//
// A replica is alive while it answers on contract.LeaseProbeSubject(id) —
// core NATS request/reply, answered by its connection. A replica killed with
// -9 loses its connection, so a probe gets "no responders" at once and its
// partitions are taken over within one round (Interval), not after a lease
// timeout. A replica that is connected but does not answer in time is
// assumed alive: no partition ever has two owners, at the price of waiting
// for NATS to drop a frozen connection.
//
// Each round, a replica counts the live replicas, takes its fair share
// (partitions / replicas, rounded up) of the partitions that have no live
// owner, and hands back, after a checkpoint, what it holds beyond its
// share; so a new replica gets partitions within a round or two.
package lease

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/klaxon-alerts/klaxon/pkg/contract"
)

// Owner is what holds the partitions a Manager wins.
type Owner interface {
	// Acquire starts owning partitions: load their state, start consuming.
	// An error gives them back.
	Acquire(ctx context.Context, partitions []int) error
	// Release stops owning partitions. When graceful, the leases are still
	// held while it runs, so it may write a last checkpoint; otherwise
	// another replica owns them already and nothing may be written.
	Release(ctx context.Context, partitions []int, graceful bool)
}

// Options configures a Manager.
type Options struct {
	JS jetstream.JetStream
	// Stage names the stage whose partitions are shared.
	Stage string
	// Partitions is the number of partitions; default contract.Partitions.
	Partitions int
	// ID identifies this replica; default a new unique id.
	ID string
	// Interval is the time between rounds; default 1s.
	Interval time.Duration
	// ProbeTimeout bounds a liveness probe; default 500ms.
	ProbeTimeout time.Duration
	Logger       *slog.Logger
}

// Manager takes and gives back a replica's partitions.
type Manager struct {
	opts  Options
	owner Owner
	log   *slog.Logger
	kv    jetstream.KeyValue
	// entries is the watched content of the stage's keys.
	entries map[string]entry
	owned   []int
	// joined is set once the first round is done: the replica holds its
	// share, or knows who does.
	joined atomic.Bool
}

// ErrJoining is Ready's answer before the first round is done.
var ErrJoining = errors.New("taking its share of the partitions")

// Ready reports whether the replica has taken its share of the partitions
// (after its first round), for /-/ready.
func (m *Manager) Ready() error {
	if !m.joined.Load() {
		return fmt.Errorf("%s: %w", m.opts.Stage, ErrJoining)
	}
	return nil
}

// New returns a Manager for owner; Run starts it.
func New(opts Options, owner Owner) *Manager {
	if opts.Partitions <= 0 {
		opts.Partitions = contract.Partitions
	}
	if opts.ID == "" {
		opts.ID = nats.NewInbox()[len(nats.InboxPrefix):]
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.ProbeTimeout <= 0 {
		opts.ProbeTimeout = 500 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Manager{opts: opts, owner: owner, log: opts.Logger.With("replica", opts.ID), entries: map[string]entry{}}
}

// ID is this replica's id.
func (m *Manager) ID() string { return m.opts.ID }

func (m *Manager) replicaKey(id string) string { return m.opts.Stage + ".replica." + id }
func (m *Manager) partitionKey(p int) string   { return m.opts.Stage + "." + strconv.Itoa(p) }

// Run takes part in the sharing until ctx is done; then it hands every
// partition back gracefully and leaves.
func (m *Manager) Run(ctx context.Context) error {
	kv, err := m.opts.JS.KeyValue(ctx, contract.BucketLeases)
	if err != nil {
		return fmt.Errorf("lease: bucket %s: %w", contract.BucketLeases, err)
	}
	m.kv = kv
	nc := m.opts.JS.Conn()
	probe, err := nc.Subscribe(contract.LeaseProbeSubject(m.opts.ID), func(msg *nats.Msg) { _ = msg.Respond(nil) })
	if err != nil {
		return fmt.Errorf("lease: probe subscription: %w", err)
	}
	defer func() { _ = probe.Unsubscribe() }()
	if err := nc.FlushTimeout(5 * time.Second); err != nil {
		return fmt.Errorf("lease: probe subscription: %w", err)
	}
	if _, err := kv.Put(ctx, m.replicaKey(m.opts.ID), []byte(m.opts.ID)); err != nil {
		return fmt.Errorf("lease: join: %w", err)
	}
	defer m.leave()
	w, err := kv.WatchFiltered(ctx, []string{m.opts.Stage + ".>"})
	if err != nil {
		return fmt.Errorf("lease: watch: %w", err)
	}
	defer func() { _ = w.Stop() }()
	m.log.Info("replica joined", "stage", m.opts.Stage)

	tick := time.NewTicker(m.opts.Interval)
	defer tick.Stop()
	synced := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("lease: watch ended")
			}
			if e == nil { // the initial values are in
				synced = true
				m.round(ctx)
				m.joined.Store(true)
				continue
			}
			m.apply(e)
		case <-tick.C:
			if synced {
				m.round(ctx)
			}
		}
	}
}

// entry is a key's value and revision. A key this replica deleted (a lease
// it gave up, a gone replica) is kept, with an empty value, until the watch
// brings the deletion: its put, still on the way, must not bring it back.
type entry struct {
	value    string
	revision uint64
}

func (m *Manager) apply(e jetstream.KeyValueEntry) {
	if e.Operation() != jetstream.KeyValuePut {
		// A deletion this replica's own later write overtook (it gave a
		// partition back, then took it again while the round blocked the
		// watch) must not forget that write.
		if cur, ok := m.entries[e.Key()]; !ok || cur.revision < e.Revision() {
			delete(m.entries, e.Key())
		}
		return
	}
	m.set(e.Key(), entry{value: string(e.Value()), revision: e.Revision()})
}

// set records a key's value unless a newer one is known.
func (m *Manager) set(key string, e entry) {
	if cur, ok := m.entries[key]; ok && cur.revision >= e.revision {
		return
	}
	m.entries[key] = e
}

// leave hands every partition back and removes the replica, on a context
// of its own: the stage's is done.
func (m *Manager) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !m.opts.JS.Conn().IsConnected() {
		// Cut off: the partitions are taken for gone; write nothing.
		m.owner.Release(ctx, m.owned, false)
		m.owned = nil
	}
	m.giveBack(ctx, m.owned)
	if err := m.kv.Delete(ctx, m.replicaKey(m.opts.ID)); err != nil {
		m.log.Warn("replica key not removed", "err", err)
	}
	m.log.Info("replica left", "stage", m.opts.Stage)
}

// round is one sharing step; see the package comment.
func (m *Manager) round(ctx context.Context) {
	if !m.opts.JS.Conn().IsConnected() {
		// Cut off, this replica is taken for gone and its partitions move:
		// stop them now, without writing, rather than after reconnecting.
		if len(m.owned) > 0 {
			m.log.Warn("NATS connection lost; partitions dropped", "partitions", m.owned)
			m.owner.Release(ctx, m.owned, false)
			m.owned = nil
		}
		return
	}
	live := m.liveReplicas(ctx)
	holders := make([]string, m.opts.Partitions)
	var mine []int
	for p := range holders {
		if e, ok := m.entries[m.partitionKey(p)]; ok {
			holders[p] = e.value
		}
		if holders[p] == m.opts.ID {
			mine = append(mine, p)
		}
	}
	if lost := without(m.owned, mine); len(lost) > 0 {
		// Another replica holds them now (this one was taken for dead).
		m.log.Warn("partitions lost to another replica", "partitions", lost)
		m.owner.Release(ctx, lost, false)
		m.owned = without(m.owned, lost)
	}
	share := (m.opts.Partitions + len(live) - 1) / len(live)
	if extra := len(m.owned) - share; extra > 0 {
		m.giveBack(ctx, m.owned[len(m.owned)-extra:])
		return
	}
	want := share - len(m.owned)
	if want <= 0 {
		return
	}
	var won []int
	for p, holder := range holders {
		if len(won) == want {
			break
		}
		switch {
		case holder == m.opts.ID:
			if !slices.Contains(m.owned, p) { // held, but dropped while cut off
				won = append(won, p)
			}
		case holder != "" && (slices.Contains(live, holder) || m.alive(ctx, holder)):
		case m.take(ctx, p):
			won = append(won, p)
		}
	}
	if len(won) == 0 {
		return
	}
	if err := m.owner.Acquire(ctx, won); err != nil {
		m.log.Error("partitions not started; given back", "partitions", won, "err", err)
		m.drop(ctx, won)
		return
	}
	m.owned = append(m.owned, won...)
	slices.Sort(m.owned)
	m.log.Info("partitions taken", "partitions", len(won), "owned", len(m.owned), "replicas", len(live))
}

// liveReplicas lists the stage's replicas that answer, this one included;
// those that are gone are removed from the bucket.
func (m *Manager) liveReplicas(ctx context.Context) []string {
	live := []string{m.opts.ID}
	prefix := m.opts.Stage + ".replica."
	for key, e := range m.entries {
		id, ok := strings.CutPrefix(key, prefix)
		if !ok || id == m.opts.ID || e.value == "" {
			continue
		}
		if m.alive(ctx, id) {
			live = append(live, id)
			continue
		}
		if err := m.kv.Delete(ctx, key, jetstream.LastRevision(e.revision)); err == nil {
			m.log.Info("replica gone", "gone", id)
			// Not probed again: under load a probe can time out, and a
			// replica that does not answer counts as alive.
			m.entries[key] = entry{revision: e.revision}
		}
	}
	return live
}

// alive probes a replica: only "no responders" says it is gone.
func (m *Manager) alive(ctx context.Context, id string) bool {
	ctx, cancel := context.WithTimeout(ctx, m.opts.ProbeTimeout)
	defer cancel()
	_, err := m.opts.JS.Conn().RequestWithContext(ctx, contract.LeaseProbeSubject(id), nil)
	return !errors.Is(err, nats.ErrNoResponders)
}

// take wins partition p: created when it has no key, or taken over from
// a gone owner by compare-and-set.
func (m *Manager) take(ctx context.Context, p int) bool {
	key := m.partitionKey(p)
	var rev uint64
	var err error
	if e, ok := m.entries[key]; ok && e.value != "" {
		rev, err = m.kv.Update(ctx, key, []byte(m.opts.ID), e.revision)
	} else {
		rev, err = m.kv.Create(ctx, key, []byte(m.opts.ID))
	}
	if err != nil {
		return false // another replica was faster
	}
	m.set(key, entry{value: m.opts.ID, revision: rev})
	return true
}

// giveBack hands partitions over after the owner's last checkpoint.
func (m *Manager) giveBack(ctx context.Context, ps []int) {
	if len(ps) == 0 {
		return
	}
	ps = slices.Clone(ps)
	m.owner.Release(ctx, ps, true)
	m.drop(ctx, ps)
	m.owned = without(m.owned, ps)
	m.log.Info("partitions handed back", "partitions", len(ps), "owned", len(m.owned))
}

// drop deletes this replica's lease keys of ps.
func (m *Manager) drop(ctx context.Context, ps []int) {
	for _, p := range ps {
		key := m.partitionKey(p)
		e, ok := m.entries[key]
		if !ok || e.value != m.opts.ID {
			continue
		}
		if err := m.kv.Delete(ctx, key, jetstream.LastRevision(e.revision)); err != nil {
			m.log.Warn("lease not removed", "partition", p, "err", err)
			continue
		}
		m.entries[key] = entry{revision: e.revision}
	}
}

func without(a, b []int) []int {
	var out []int
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
