package streams

import (
	"reflect"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/klaxon-alerts/klaxon/pkg/natsembed/natstest"
)

// TestLeaderReadStreamIsTheBucketsStream: a replicated bucket's stream is
// the one nats.go's CreateKeyValue makes for the same bucket, but for direct
// gets; and nats.go binds it as a bucket that reads from the leader.
func TestLeaderReadStreamIsTheBucketsStream(t *testing.T) {
	_, js := natstest.Start(t)
	ctx := t.Context()
	type shape struct {
		Subjects                             []string
		MaxMsgsPerSubject, MaxBytes, MaxMsgs int64
		MaxMsgSize                           int32
		MaxAge, Duplicates                   string
		Storage                              jetstream.StorageType
		Discard                              jetstream.DiscardPolicy
		AllowRollup, DenyDelete, AllowDirect bool
		Description                          string
		MaxConsumers                         int
	}
	of := func(c jetstream.StreamConfig) shape {
		return shape{c.Subjects, c.MaxMsgsPerSubject, c.MaxBytes, c.MaxMsgs, c.MaxMsgSize, c.MaxAge.String(), c.Duplicates.String(),
			c.Storage, c.Discard, c.AllowRollup, c.DenyDelete, c.AllowDirect, c.Description, c.MaxConsumers}
	}
	for _, cfg := range BucketConfigs(Options{}) {
		if _, err := js.CreateOrUpdateKeyValue(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		st, err := js.Stream(ctx, "KV_"+cfg.Bucket)
		if err != nil {
			t.Fatal(err)
		}
		want := of(st.CachedInfo().Config)
		want.AllowDirect = false
		if got := of(leaderReadStream(cfg)); !reflect.DeepEqual(got, want) {
			t.Errorf("bucket %s:\n got %+v\nwant %+v", cfg.Bucket, got, want)
		}
		if err := js.DeleteKeyValue(ctx, cfg.Bucket); err != nil {
			t.Fatal(err)
		}
		if _, err := js.CreateOrUpdateStream(ctx, leaderReadStream(cfg)); err != nil {
			t.Fatal(err)
		}
		bound, err := js.KeyValue(ctx, cfg.Bucket)
		if err != nil {
			t.Fatalf("bind %s: %v", cfg.Bucket, err)
		}
		if _, err := bound.Put(ctx, "k", []byte("v")); err != nil {
			t.Fatal(err)
		}
		if e, err := bound.Get(ctx, "k"); err != nil || string(e.Value()) != "v" {
			t.Fatalf("get from %s: %v", cfg.Bucket, err)
		}
	}
}
