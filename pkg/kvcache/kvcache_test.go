package kvcache_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/kvcache"
	"github.com/klaxon-alerts/klaxon/pkg/natsembed/natstest"
	"github.com/klaxon-alerts/klaxon/test/harness"
)

func decodeString(e jetstream.KeyValueEntry) (string, error) {
	if string(e.Value()) == "bad" {
		return "", errors.New("bad value")
	}
	return string(e.Value()), nil
}

func bucket(t *testing.T, name string) (jetstream.JetStream, jetstream.KeyValue) {
	t.Helper()
	_, js := natstest.Start(t)
	kv, err := js.CreateKeyValue(t.Context(), jetstream.KeyValueConfig{Bucket: name})
	if err != nil {
		t.Fatal(err)
	}
	return js, kv
}

// run runs a cache (a Cache, the alerts' copy) until the test ends.
func run(t *testing.T, c interface{ Run(context.Context) error }) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := c.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
}

func values(c *kvcache.Cache[string]) []string {
	v, _ := c.Values()
	slices.Sort(v)
	return v
}

// The cache starts from the bucket's current values, follows puts, deletes
// and purges, and a writer that waits for its write's revision reads it.
func TestCacheFollowsTheBucket(t *testing.T) {
	js, kv := bucket(t, "test")
	ctx := t.Context()
	for k, v := range map[string]string{"a": "1", "b": "2", "skip": "bad"} {
		if _, err := kv.Put(ctx, k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := kv.Delete(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	c := kvcache.New(js, "test", decodeString, nil)
	notYet, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	if err := c.Synced(notYet); !errors.Is(err, kvcache.ErrNotSynced) {
		t.Fatalf("Synced before Run = %v, want ErrNotSynced", err)
	}
	cancel()
	run(t, c)
	if err := c.Synced(ctx); err != nil {
		t.Fatal(err)
	}
	if got := values(c); !slices.Equal(got, []string{"1"}) {
		t.Fatalf("initial values %v, want [1] (deleted and undecodable keys left out)", got)
	}

	rev, err := kv.Put(ctx, "c", []byte("3"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if v, ok := c.Get("c"); !ok || v != "3" {
		t.Fatalf("Get(c) after its revision = %q %v", v, ok)
	}
	if err := kv.Purge(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	rev, _ = kv.Put(ctx, "d", []byte("4"))
	if err := c.WaitRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if got := values(c); !slices.Equal(got, []string{"3", "4"}) || c.Len() != 2 || c.Revision() < rev {
		t.Fatalf("values %v len %d revision %d", got, c.Len(), c.Revision())
	}
}

func TestSnapshot(t *testing.T) {
	js, kv := bucket(t, "test")
	ctx := t.Context()
	for k, v := range map[string]string{"a": "1", "b": "2"} {
		if _, err := kv.Put(ctx, k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	_ = kv.Delete(ctx, "b")
	got, err := kvcache.Snapshot(ctx, js, kv.Bucket(), decodeString)
	if err != nil || len(got) != 1 || got["a"] != "1" {
		t.Fatalf("Snapshot = %v %v", got, err)
	}
	if _, err := kv.Put(ctx, "bad", []byte("bad")); err != nil {
		t.Fatal(err)
	}
	if _, err := kvcache.Snapshot(ctx, js, kv.Bucket(), decodeString); err == nil {
		t.Fatal("Snapshot of an undecodable value: no error")
	}
}

// The alerts' copy reads klaxon-alerts values as dedup writes them; one
// that does not decode reads as absent, and a rewritten value reads as its
// newest state.
func TestAlertsDecodeOnRead(t *testing.T) {
	js, kv := bucket(t, contract.BucketAlerts)
	ctx := t.Context()
	stored := func(name string, end time.Time) []byte {
		return []byte(`{"labels":{"alertname":"` + name + `"},"startsAt":"2026-01-01T00:00:00Z","endsAt":"` + end.Format(time.RFC3339) + `","emitted":"firing"}`)
	}
	end := time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)
	for k, v := range map[string][]byte{"a": stored("A", end), "bad": []byte("{")} {
		if _, err := kv.Put(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
	c := runAlerts(t, js, nil)
	if a, ok := c.Get("a"); !ok || a.Labels["alertname"] != "A" || !a.EndsAt.Equal(end) {
		t.Fatalf("Get(a) = %+v %v", a, ok)
	}
	if _, ok := c.Get("bad"); ok {
		t.Fatal("an undecodable value read as an alert")
	}
	if all, _ := c.Values(); len(all) != 1 {
		t.Fatalf("Values = %d alerts, want 1 (the undecodable left out)", len(all))
	}
	later := end.Add(time.Hour)
	rev, err := kv.Put(ctx, "a", stored("A", later))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if a, ok := c.Get("a"); !ok || !a.EndsAt.Equal(later) {
		t.Fatalf("Get(a) after a rewrite = %+v %v, want endsAt %v", a, ok, later)
	}
}

// The watched copy shares what it decodes with the process's other holders
// of an alert (alert.Pool), and the pool forgets an alert that leaves the
// bucket.
func TestAlertsShareThroughThePool(t *testing.T) {
	js, kv := bucket(t, contract.BucketAlerts)
	ctx := t.Context()
	pool := alert.NewPool()
	held := alert.Alert{Labels: model.LabelSet{"alertname": "A"}, Annotations: model.LabelSet{"summary": "s"}}
	pool.Share("f1", &held) // dedup's state, say
	value := `{"labels":{"alertname":"A"},"annotations":{"summary":"s"},"startsAt":"2026-01-01T00:00:00Z","emitted":"firing"}`
	if _, err := kv.Put(ctx, "f1", []byte(value)); err != nil {
		t.Fatal(err)
	}
	c := runAlerts(t, js, pool)
	a, ok := c.Get("f1")
	if !ok {
		t.Fatal("alert not in the copy")
	}
	one := func(x, y model.LabelSet) bool {
		return reflect.ValueOf(x).UnsafePointer() == reflect.ValueOf(y).UnsafePointer()
	}
	if !one(a.Labels, held.Labels) || !one(a.Annotations, held.Annotations) {
		t.Fatal("the copy holds its own labels and annotations of an alert the pool has")
	}
	if err := kv.Delete(ctx, "f1"); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 10*time.Second, "the pool forgets the alert deleted from the bucket", func() bool { return pool.Len() == 0 })
}

// runAlerts runs a watched copy of klaxon-alerts until the test ends and
// waits for its first complete copy.
func runAlerts(t *testing.T, js jetstream.JetStream, pool *alert.Pool) *kvcache.Alerts {
	t.Helper()
	c := kvcache.NewAlerts(js, pool, nil)
	run(t, c)
	if err := c.Synced(t.Context()); err != nil {
		t.Fatal(err)
	}
	return c
}
