package peers_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/klaxon-alerts/klaxon/pkg/logtest"
	"github.com/klaxon-alerts/klaxon/pkg/natsembed/natstest"
	"github.com/klaxon-alerts/klaxon/pkg/peers"
)

// streamsOf remembers the JetStream each test bucket was made with, for
// List.
var streamsOf sync.Map

// bucket creates a peers bucket with ttl on a fresh server; it returns the
// server's URL and the bucket.
func bucket(t *testing.T, ttl time.Duration) (url string, kv jetstream.KeyValue) {
	t.Helper()
	url = natstest.Server(t)
	_, js := natstest.Connect(t, url)
	kv, err := js.CreateKeyValue(t.Context(), jetstream.KeyValueConfig{Bucket: "peers-test", TTL: ttl, Storage: jetstream.MemoryStorage})
	if err != nil {
		t.Fatal(err)
	}
	streamsOf.Store(kv, js)
	return url, kv
}

func join(t *testing.T, ctx context.Context, kv jetstream.KeyValue, p peers.Peer, every time.Duration) *peers.Member {
	t.Helper()
	log, _ := logtest.New()
	m, err := peers.Join(ctx, kv, p, every, time.Now, log)
	if err != nil {
		t.Fatalf("join %s: %v", p.ID, err)
	}
	return m
}

func list(t *testing.T, kv jetstream.KeyValue) []peers.Peer {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	js, _ := streamsOf.Load(kv)
	l, err := peers.List(ctx, js.(jetstream.JetStream), kv)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func ids(l []peers.Peer) []string {
	var out []string
	for _, p := range l {
		out = append(out, p.ID)
	}
	return out
}

// Joined processes are listed at once with what they announced, the stages
// they run give each stage's live replicas, and one that stops cleanly is
// gone at once.
func TestJoinListLeave(t *testing.T) {
	_, kv := bucket(t, 4*time.Second)
	if l := list(t, kv); len(l) != 0 {
		t.Fatalf("empty bucket lists %v", l)
	}
	started := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ctxA, leaveA := context.WithCancel(t.Context())
	a := join(t, ctxA, kv, peers.Peer{ID: "A", Address: "h1:9093", Stages: []string{"ingest", "dedup"}, Version: "0.1.0", Started: started}, time.Second)
	b := join(t, t.Context(), kv, peers.Peer{ID: "B", Name: "b-name", Address: "h2:9093", Stages: []string{"dedup", "notifier"}}, time.Second)

	l := list(t, kv)
	if got := ids(l); !slices.Equal(got, []string{"A", "B"}) {
		t.Fatalf("listed %v, want A and B", got)
	}
	if p := l[0]; p.Name != "A" || p.Address != "h1:9093" || p.Version != "0.1.0" || !p.Started.Equal(started) || p.Heartbeat.IsZero() {
		t.Errorf("peer A listed as %+v", p)
	}
	if a.Self().Name != "A" || b.Self().Name != "b-name" {
		t.Errorf("names %q, %q: want the id when unset, else the name", a.Self().Name, b.Self().Name)
	}
	for stage, want := range map[string][]string{"ingest": {"A"}, "dedup": {"A", "B"}, "notifier": {"B"}, "router": nil} {
		if got := peers.LiveReplicas(l, stage); !slices.Equal(got, want) {
			t.Errorf("LiveReplicas(%s) = %v, want %v", stage, got, want)
		}
	}
	if got := peers.Missing(l, []string{"ingest", "router", "notifier", "grouper"}); !slices.Equal(got, []string{"router", "grouper"}) {
		t.Errorf("Missing = %v", got)
	}

	leaveA()
	a.Wait()
	if got := ids(list(t, kv)); !slices.Equal(got, []string{"B"}) {
		t.Fatalf("after A left: %v", got)
	}
}

// Heartbeats keep a peer listed past the bucket's TTL; a process that
// stops heartbeating without leaving (its connection gone, as when it is
// killed) drops out within the TTL.
func TestHeartbeatsKeepAPeerAndTheTTLDropsADeadOne(t *testing.T) {
	// Ten heartbeats per TTL: a loaded machine (the whole suite on 2 cores)
	// delays some by hundreds of milliseconds, which must not drop a peer.
	const ttl = 2 * time.Second
	url, kv := bucket(t, ttl)
	nc, js := natstest.Connect(t, url)
	doomedKV, err := js.KeyValue(t.Context(), "peers-test")
	if err != nil {
		t.Fatal(err)
	}
	join(t, t.Context(), kv, peers.Peer{ID: "alive"}, ttl/10)
	join(t, t.Context(), doomedKV, peers.Peer{ID: "doomed"}, ttl/10)

	// Watched for three TTLs, the heartbeating peer never drops out.
	for end := time.Now().Add(3 * ttl); time.Now().Before(end); {
		if !slices.Contains(ids(list(t, kv)), "alive") {
			t.Fatal("a heartbeating peer dropped out of the list")
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
	nc.Close()
	closed := time.Now()
	deadline := closed.Add(ttl + 2*time.Second)
	for slices.Contains(ids(list(t, kv)), "doomed") {
		if time.Now().After(deadline) {
			t.Fatalf("a peer without heartbeats still listed %v after its connection closed (TTL %v)", time.Since(closed), ttl)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
	t.Logf("dead peer dropped %v after its last chance to heartbeat (TTL %v)", time.Since(closed).Round(10*time.Millisecond), ttl)
	if got := ids(list(t, kv)); !slices.Equal(got, []string{"alive"}) {
		t.Fatalf("listed %v", got)
	}
}

// Join refuses an interval the TTL cannot cover, a bucket without a TTL
// (a killed process would stay listed forever) and a peer without an id;
// List skips values that are not peers.
func TestJoinRefusesAndListSkips(t *testing.T) {
	url, kv := bucket(t, time.Second)
	log, _ := logtest.New()
	if _, err := peers.Join(t.Context(), kv, peers.Peer{ID: "x"}, 600*time.Millisecond, time.Now, log); !errors.Is(err, peers.ErrInterval) {
		t.Errorf("interval over half the TTL: %v", err)
	}
	if _, err := peers.Join(t.Context(), kv, peers.Peer{}, 100*time.Millisecond, time.Now, log); err == nil {
		t.Error("joined without an id")
	}
	_, js := natstest.Connect(t, url)
	forever, err := js.CreateKeyValue(t.Context(), jetstream.KeyValueConfig{Bucket: "no-ttl"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := peers.Join(t.Context(), forever, peers.Peer{ID: "x"}, time.Second, time.Now, log); !errors.Is(err, peers.ErrInterval) {
		t.Errorf("bucket without TTL: %v", err)
	}

	for key, value := range map[string]string{"garbage": "not json", "mismatch": `{"id":"other"}`} {
		if _, err := kv.Put(t.Context(), key, []byte(value)); err != nil {
			t.Fatal(err)
		}
	}
	join(t, t.Context(), kv, peers.Peer{ID: "real"}, 100*time.Millisecond)
	if got := ids(list(t, kv)); !slices.Equal(got, []string{"real"}) {
		t.Errorf("listed %v, want only the real peer", got)
	}
}
