package lease_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/lease"
	"github.com/klaxon-alerts/klaxon/pkg/natsembed"
	"github.com/klaxon-alerts/klaxon/pkg/natsembed/natstest"
	"github.com/klaxon-alerts/klaxon/pkg/streams"
	"github.com/klaxon-alerts/klaxon/test/harness"
)

// owner records what a replica owns and checks that no partition is ever
// owned twice across the replicas sharing one ledger.
type owner struct {
	mu     sync.Mutex
	ledger *ledger
	name   string
	owned  []int
	// graceful counts partitions handed back with a checkpoint, lost
	// those released without.
	graceful, lost int
	// failing makes this many Acquire calls fail, each after loading for
	// failAfter (a state too large to load in time).
	failing   int
	failAfter time.Duration
	// onAcquire, if set, runs in each Acquire that succeeds.
	onAcquire func()
}

type ledger struct {
	mu     sync.Mutex
	holder map[int]string
	t      *testing.T
}

func (o *owner) Acquire(_ context.Context, ps []int) error {
	o.mu.Lock()
	if o.failing > 0 {
		o.failing--
		o.mu.Unlock()
		time.Sleep(o.failAfter)
		return errors.New("state not loaded")
	}
	o.mu.Unlock()
	if o.onAcquire != nil {
		o.onAcquire()
	}
	o.ledger.mu.Lock()
	for _, p := range ps {
		if h, ok := o.ledger.holder[p]; ok {
			o.ledger.t.Errorf("partition %d acquired by %s while %s owns it", p, o.name, h)
		}
		o.ledger.holder[p] = o.name
	}
	o.ledger.mu.Unlock()
	o.mu.Lock()
	o.owned = append(o.owned, ps...)
	o.mu.Unlock()
	return nil
}

func (o *owner) Release(_ context.Context, ps []int, graceful bool) {
	o.ledger.mu.Lock()
	for _, p := range ps {
		if o.ledger.holder[p] == o.name {
			delete(o.ledger.holder, p)
		}
	}
	o.ledger.mu.Unlock()
	o.mu.Lock()
	o.owned = slices.DeleteFunc(o.owned, func(p int) bool { return slices.Contains(ps, p) })
	if graceful {
		o.graceful += len(ps)
	} else {
		o.lost += len(ps)
	}
	o.mu.Unlock()
}

func (o *owner) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.owned)
}

// replica runs one Manager on its own connection, as a process would.
type replica struct {
	*lease.Manager
	owner  *owner
	nc     *nats.Conn
	cancel context.CancelFunc
	done   chan struct{}
}

func startReplica(t *testing.T, url string, l *ledger, name string) *replica {
	t.Helper()
	return startReplicaOf(t, url, &owner{ledger: l, name: name})
}

func startReplicaOf(t *testing.T, url string, o *owner) *replica {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	m := lease.New(lease.Options{JS: js, Stage: "dedup", Partitions: 64, Interval: 100 * time.Millisecond}, o)
	ctx, cancel := context.WithCancel(context.Background())
	r := &replica{Manager: m, owner: o, nc: nc, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		_ = m.Run(ctx)
	}()
	t.Cleanup(func() { r.stop(); nc.Close() })
	return r
}

func (r *replica) stop() {
	r.cancel()
	<-r.done
}

// Replicas share the partitions evenly, never two owners at once; a killed
// replica's partitions are taken over within rounds, and a stopped one
// hands its partitions back after its checkpoint.
func TestPartitionsAreSharedAndTakenOver(t *testing.T) {
	nc, js := natstest.Start(t)
	if err := streams.Provision(t.Context(), js, streams.Options{}); err != nil {
		t.Fatal(err)
	}
	l := &ledger{holder: map[int]string{}, t: t}
	a := startReplica(t, nc.ConnectedUrl(), l, "a")
	harness.Eventually(t, 10*time.Second, "a owns all 64", func() bool { return a.owner.count() == 64 })

	b := startReplica(t, nc.ConnectedUrl(), l, "b")
	harness.Eventually(t, 10*time.Second, "a and b own 32 each", func() bool { return a.owner.count() == 32 && b.owner.count() == 32 })
	if a.owner.graceful != 32 {
		t.Errorf("a handed back %d partitions gracefully, want 32", a.owner.graceful)
	}

	c := startReplica(t, nc.ConnectedUrl(), l, "c")
	harness.Eventually(t, 10*time.Second, "three replicas share 64", func() bool {
		counts := []int{a.owner.count(), b.owner.count(), c.owner.count()}
		return counts[0]+counts[1]+counts[2] == 64 && slices.Max(counts) <= 22
	})

	// kill -9 of b: its connection drops without a goodbye, and its
	// memory is gone.
	b.nc.Close()
	l.mu.Lock()
	for p, h := range l.holder {
		if h == "b" {
			delete(l.holder, p)
		}
	}
	l.mu.Unlock()
	start := time.Now()
	harness.Eventually(t, 10*time.Second, "a and c own all 64 after b is gone", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		n := 0
		for _, h := range l.holder {
			if h != "b" {
				n++
			}
		}
		return n == 64
	})
	t.Logf("b's partitions taken over in %v", time.Since(start).Round(time.Millisecond))
	b.stop() // its goroutines; its leases are no longer its own
	if got := a.owner.count() + c.owner.count(); got != 64 {
		t.Errorf("a and c own %d partitions, want 64", got)
	}

	c.stop()
	harness.Eventually(t, 10*time.Second, "a owns all 64 after c stopped", func() bool { return a.owner.count() == 64 })
	if c.owner.count() != 0 {
		t.Errorf("c still owns %d partitions after stopping", c.owner.count())
	}
}

// A replica whose owner failed to start partitions (after a load longer
// than a round) deletes their leases; taking them again in a round before
// the watch has brought those deletions, it must not take the leases it deleted for its own (it would
// run partitions without a lease, for another replica to take as well),
// nor, once the deletions arrive, drop partitions it holds again.
func TestFailedStartTakesThePartitionsAgainCleanly(t *testing.T) {
	nc, js := natstest.Start(t)
	if err := streams.Provision(t.Context(), js, streams.Options{}); err != nil {
		t.Fatal(err)
	}
	l := &ledger{holder: map[int]string{}, t: t}
	for try := range 10 { // the race is the watch's against the next round: several tries
		a := startReplicaOf(t, nc.ConnectedUrl(), &owner{ledger: l, name: "a", failing: 1, failAfter: 150 * time.Millisecond})
		harness.Eventually(t, 10*time.Second, "a owns all 64", func() bool { return a.owner.count() == 64 })
		kv, err := js.KeyValue(t.Context(), "klaxon-leases")
		if err != nil {
			t.Fatal(err)
		}
		harness.Eventually(t, 5*time.Second, "every partition a owns has its lease", func() bool {
			for p := range 64 {
				if e, err := kv.Get(t.Context(), "dedup."+strconv.Itoa(p)); err != nil || string(e.Value()) != a.ID() {
					return false
				}
			}
			return true
		})
		a.owner.mu.Lock()
		lost := a.owner.lost
		a.owner.mu.Unlock()
		if lost != 0 {
			t.Fatalf("try %d: %d partitions dropped as lost to another replica; there is none", try, lost)
		}
		a.stop()
	}
}

// A replica found gone is not probed again: a probe answered late (a
// connection busy loading state) counts as alive, and the replica that
// believed so halved its share and handed back partitions for nothing.
func TestGoneReplicaIsNotProbedAgain(t *testing.T) {
	nc, js := natstest.Start(t)
	if err := streams.Provision(t.Context(), js, streams.Options{}); err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(t.Context(), "klaxon-leases")
	if err != nil {
		t.Fatal(err)
	}
	l := &ledger{holder: map[int]string{}, t: t}
	for try := range 10 { // the race is the watch's against the next round: several tries
		ghost := "ghost" + strconv.Itoa(try)
		if _, err := kv.Put(t.Context(), "dedup.replica."+ghost, []byte(ghost)); err != nil {
			t.Fatal(err)
		}
		// While the partitions load (longer than a round), the ghost's
		// probe subject starts answering: only a probe sent after it was
		// found gone can hear that.
		o := &owner{ledger: l, name: "a"}
		o.onAcquire = func() {
			sub, err := nc.Subscribe(contract.LeaseProbeSubject(ghost), func(m *nats.Msg) { _ = m.Respond(nil) })
			if err != nil {
				t.Error(err)
				return
			}
			t.Cleanup(func() { _ = sub.Unsubscribe() })
			_ = nc.Flush()
			time.Sleep(150 * time.Millisecond) // a load longer than a round
		}
		a := startReplicaOf(t, nc.ConnectedUrl(), o)
		harness.Eventually(t, 10*time.Second, "a owns all 64", func() bool { return a.owner.count() == 64 })
		// The round after the load has run once the ghost's key is gone.
		harness.Eventually(t, 5*time.Second, "the ghost's key is gone", func() bool {
			_, err := kv.Get(t.Context(), "dedup.replica."+ghost)
			return errors.Is(err, jetstream.ErrKeyNotFound)
		})
		a.stop()
		if o.graceful != 64 { // all at the stop, none before
			t.Fatalf("try %d: %d partitions handed back, want the 64 of the stop alone", try, o.graceful)
		}
	}
}

// A replica cut off from NATS drops its partitions at its next round
// (another replica would take them for gone), writing nothing; once back,
// it takes them up again from the leases it still holds.
func TestCutOffReplicaDropsItsPartitionsAndTakesThemBack(t *testing.T) {
	store := t.TempDir()
	srv, err := natsembed.Start(natsembed.Options{StoreDir: store, ListenAddress: "127.0.0.1:-1"})
	if err != nil {
		t.Fatal(err)
	}
	url := srv.ClientURL()
	_, js := natstest.Connect(t, url, nats.MaxReconnects(-1))
	if err := streams.Provision(t.Context(), js, streams.Options{}); err != nil {
		t.Fatal(err)
	}
	l := &ledger{holder: map[int]string{}, t: t}
	a := startReplica(t, url, l, "a")
	harness.Eventually(t, 10*time.Second, "a owns all 64", func() bool { return a.owner.count() == 64 })

	srv.Shutdown()
	harness.Eventually(t, 10*time.Second, "a dropped its partitions while cut off", func() bool { return a.owner.count() == 0 })
	if a.owner.graceful != 0 {
		t.Errorf("%d partitions handed back gracefully while cut off, want none", a.owner.graceful)
	}
	srv, err = natsembed.Start(natsembed.Options{StoreDir: store, ListenAddress: strings.TrimPrefix(url, "nats://")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	harness.Eventually(t, 10*time.Second, "a took its partitions up again", func() bool { return a.owner.count() == 64 })
}
