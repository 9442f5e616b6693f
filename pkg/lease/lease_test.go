package lease_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

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
	// graceful counts partitions handed back with a checkpoint.
	graceful int
}

type ledger struct {
	mu     sync.Mutex
	holder map[int]string
	t      *testing.T
}

func (o *owner) Acquire(_ context.Context, ps []int) error {
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
	owner  *owner
	nc     *nats.Conn
	cancel context.CancelFunc
	done   chan struct{}
}

func startReplica(t *testing.T, url string, l *ledger, name string) *replica {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	o := &owner{ledger: l, name: name}
	m := lease.New(lease.Options{JS: js, Stage: "dedup", Partitions: 64, Interval: 100 * time.Millisecond}, o)
	ctx, cancel := context.WithCancel(context.Background())
	r := &replica{owner: o, nc: nc, cancel: cancel, done: make(chan struct{})}
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
