package kvcache_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/klaxon-alerts/klaxon/pkg/kvcache"
	"github.com/klaxon-alerts/klaxon/pkg/natsembed/natstest"
)

// Scan reads each key's current value once, leaves deleted and purged keys
// out, and returns the revision they are current as of. A bucket of several
// times the server's pending limit per connection is read by a slow reader
// without the server cutting the connection off (a KV watch pushed it all
// at once: a slow consumer, disconnected).
func TestScanPullsABucketLargerThanTheConnectionsPendingLimit(t *testing.T) {
	srv := natstest.ServerWith(t, &server.Options{JetStream: true, MaxPending: 12 << 20})
	var disconnects atomic.Int32
	nc, js := natstest.Connect(t, srv.ClientURL(), nats.DisconnectErrHandler(func(*nats.Conn, error) { disconnects.Add(1) }))
	ctx := t.Context()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "big", MaxValueSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if rev, err := kvcache.Scan(ctx, js, "big", func(jetstream.KeyValueEntry) { t.Error("a value in an empty bucket") }); err != nil || rev != 0 {
		t.Fatalf("Scan of an empty bucket = %d, %v", rev, err)
	}
	value := strings.Repeat("x", 32<<10)
	const keys = 1500 // ~48 MiB: 4× the limit, 6 batches
	for i := range keys {
		if _, err := kv.Put(ctx, fmt.Sprintf("k%d", i), []byte(fmt.Sprintf("%d:%s", i, value))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := kv.Put(ctx, "k0", []byte("0:new")); err != nil { // k0's current value is its second
		t.Fatal(err)
	}
	if err := kv.Delete(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	if err := kv.Purge(ctx, "k2"); err != nil {
		t.Fatal(err)
	}
	last, err := kv.Put(ctx, "last", []byte("last"))
	if err != nil {
		t.Fatal(err)
	}

	got := map[string]string{}
	start := time.Now()
	rev, err := kvcache.Scan(ctx, js, "big", func(e jetstream.KeyValueEntry) {
		if _, seen := got[e.Key()]; seen {
			t.Errorf("key %s read twice", e.Key())
		}
		got[e.Key()], _, _ = strings.Cut(string(e.Value()), ":")
		if len(got) == 1 {
			time.Sleep(time.Second) // a reader far slower than the server: its first batch waits
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("scanned %d values in %v", len(got), time.Since(start).Round(time.Millisecond))
	if rev != last {
		t.Errorf("revision = %d, want the last write's, %d", rev, last)
	}
	if len(got) != keys-2+1 {
		t.Errorf("read %d values, want %d (all but the deleted and the purged, and the last)", len(got), keys-2+1)
	}
	if _, ok := got["k1"]; ok {
		t.Error("deleted key read")
	}
	if _, ok := got["k2"]; ok {
		t.Error("purged key read")
	}
	if got["k0"] != "0" || got["k3"] != "3" || got["last"] != "last" {
		t.Errorf("values: k0=%q k3=%q last=%q", got["k0"], got["k3"], got["last"])
	}
	// Its consumer goes soon after (an API read of the groups scans each
	// time), not after nats.go's default 5 minutes.
	stream, err := js.Stream(ctx, "KV_big")
	if err != nil {
		t.Fatal(err)
	}
	consumers := stream.ListConsumers(ctx)
	n := 0
	for info := range consumers.Info() {
		if n++; info.Config.InactiveThreshold > 10*time.Second {
			t.Errorf("scan consumer %s idles %v before it goes", info.Name, info.Config.InactiveThreshold)
		}
	}
	if err := consumers.Err(); err != nil || n == 0 {
		t.Errorf("the scans' consumers: %d listed, %v", n, err)
	}
	if n := disconnects.Load(); n != 0 || !nc.IsConnected() {
		t.Errorf("connection cut %d times during the scan", n)
	}
}
