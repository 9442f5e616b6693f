package streams_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/klaxon-alerts/klaxon/pkg/bus"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/fault"
	"github.com/klaxon-alerts/klaxon/pkg/kvjson"
	"github.com/klaxon-alerts/klaxon/pkg/natsembed/natstest"
	"github.com/klaxon-alerts/klaxon/pkg/streams"
)

// Every stream and bucket has a size bound and says what happens at it:
// the input and the buckets refuse new messages, the history streams drop
// their oldest.
func TestEveryStreamAndBucketIsBounded(t *testing.T) {
	history := map[string]bool{contract.StreamAlerts: true, contract.StreamRouted: true, contract.StreamNotify: true, contract.StreamSuppressed: true, contract.StreamDLQ: true}
	for _, c := range streams.Configs(streams.Options{}) {
		want := jetstream.DiscardNew
		if history[c.Name] {
			want = jetstream.DiscardOld
			if c.MaxAge <= 0 {
				t.Errorf("history stream %s keeps messages forever", c.Name)
			}
		}
		if c.MaxBytes <= 0 || c.Discard != want {
			t.Errorf("stream %s: MaxBytes %d, Discard %v; want a bound and %v", c.Name, c.MaxBytes, c.Discard, want)
		}
	}
	for _, c := range streams.BucketConfigs(streams.Options{}) {
		if c.MaxBytes <= 0 {
			t.Errorf("bucket %s has no size bound", c.Bucket)
		}
	}
}

func TestPlacementTagsPlaceEverything(t *testing.T) {
	o := streams.Options{PlacementTags: []string{"az:a"}, Replicas: 3}
	for _, c := range streams.Configs(o) {
		if c.Placement == nil || fmt.Sprint(c.Placement.Tags) != "[az:a]" || c.Replicas != 3 {
			t.Errorf("stream %s: placement %+v, replicas %d", c.Name, c.Placement, c.Replicas)
		}
	}
	for _, c := range streams.BucketConfigs(o) {
		if c.Placement == nil || fmt.Sprint(c.Placement.Tags) != "[az:a]" || c.Replicas != 3 {
			t.Errorf("bucket %s: placement %+v, replicas %d", c.Bucket, c.Placement, c.Replicas)
		}
	}
	if c := streams.Configs(streams.Options{})[0]; c.Placement != nil {
		t.Errorf("no tags: placement %+v, want none", c.Placement)
	}
}

// A full input stream refuses the next publish with ErrStreamFull (ingest
// answers 429 with it) and keeps every message it acknowledged.
func TestFullInputRefusesNewKeepsAcked(t *testing.T) {
	_, js := natstest.Start(t)
	ctx := t.Context()
	if err := streams.Provision(ctx, js, streams.Options{InputMaxBytes: 4 << 10}); err != nil {
		t.Fatal(err)
	}
	pub := bus.NewPublisher(js, nil)
	acked := 0
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		if err = pub.Publish(contract.SubjectAlertsIn, message.NewMessage(fmt.Sprint("a", i), []byte(strings.Repeat("x", 200)))); err == nil {
			acked++
		}
	}
	if !errors.Is(err, bus.ErrStreamFull) || fault.IsFinal(err) {
		t.Fatalf("publish to a full input: %v; want a retryable ErrStreamFull", err)
	}
	s, err := js.Stream(ctx, contract.StreamInput)
	if err != nil {
		t.Fatal(err)
	}
	if n := s.CachedInfo().State.Msgs; n != uint64(acked) || acked == 0 {
		t.Fatalf("input holds %d messages, %d were acknowledged", n, acked)
	}
}

// A full history stream never refuses: it drops its oldest messages and
// stays within its bound.
func TestFullHistoryDropsOldest(t *testing.T) {
	_, js := natstest.Start(t)
	ctx := t.Context()
	const limit = 8 << 10
	if err := streams.Provision(ctx, js, streams.Options{HistoryMaxBytes: limit}); err != nil {
		t.Fatal(err)
	}
	pub := bus.NewPublisher(js, nil)
	for i := range 200 {
		if err := pub.Publish(contract.SubjectAlertsChanged, message.NewMessage(fmt.Sprint("c", i), []byte(strings.Repeat("x", 200)))); err != nil {
			t.Fatalf("publish %d to history: %v", i, err)
		}
	}
	s, err := js.Stream(ctx, contract.StreamAlerts)
	if err != nil {
		t.Fatal(err)
	}
	st := s.CachedInfo().State
	if st.Bytes > limit || st.FirstSeq == 1 || st.LastSeq != 200 {
		t.Fatalf("history state %+v: want ≤ %d bytes, the oldest dropped, the newest kept", st, limit)
	}
}

// A full bucket refuses a write with a retryable error (the stage's input
// is redelivered), keeps everything it stored, and takes writes again once
// there is room.
func TestFullBucketRefusesRetryably(t *testing.T) {
	_, js := natstest.Start(t)
	ctx := t.Context()
	if err := streams.Provision(ctx, js, streams.Options{StateMaxBytes: 8 << 10}); err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, contract.BucketAlerts)
	if err != nil {
		t.Fatal(err)
	}
	type state struct{ Body string }
	put := func(key string) error {
		_, err := kvjson.Mutate(ctx, kv, key, func(*state) (*state, error) {
			return &state{Body: key + strings.Repeat("x", 300)}, nil
		})
		return err
	}
	stored := 0
	for ; stored < 1000; stored++ {
		if err = put(fmt.Sprint("k", stored)); err != nil {
			break
		}
	}
	if err == nil || fault.IsFinal(err) || stored == 0 {
		t.Fatalf("write %d to a full bucket: %v; want a retryable error after some writes", stored, err)
	}
	t.Logf("bucket full after %d keys: %v", stored, err)
	for i := range stored {
		e, err := kvjson.Get[state](ctx, kv, fmt.Sprint("k", i))
		if err != nil || e.Value == nil || !strings.HasPrefix(e.Value.Body, fmt.Sprint("k", i, "x")) {
			t.Fatalf("key k%d, stored before the bucket filled: %+v, %v", i, e, err)
		}
	}
	// Room again: a purge of old keys (dedup's resolved alerts expire the
	// same way) lets the refused write through.
	for i := range stored / 2 {
		if err := kv.Purge(ctx, fmt.Sprint("k", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := kv.PurgeDeletes(ctx, jetstream.DeleteMarkersOlderThan(-1)); err != nil {
		t.Fatal(err)
	}
	if err := put(fmt.Sprint("k", stored)); err != nil {
		t.Fatalf("write after room was made: %v", err)
	}
}

// Provisioning again with other limits updates the existing streams and
// buckets in place: the messages they hold stay.
func TestProvisionUpdatesLimitsKeepsData(t *testing.T) {
	_, js := natstest.Start(t)
	ctx := t.Context()
	if err := streams.Provision(ctx, js, streams.Options{}); err != nil {
		t.Fatal(err)
	}
	pub := bus.NewPublisher(js, nil)
	for i := range 10 {
		if err := pub.Publish(contract.SubjectAlertsChanged, message.NewMessage(fmt.Sprint("c", i), []byte("x"))); err != nil {
			t.Fatal(err)
		}
	}
	kv, err := js.KeyValue(ctx, contract.BucketSilences)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "s1", []byte("v")); err != nil {
		t.Fatal(err)
	}
	o := streams.Options{History: time.Hour, HistoryMaxBytes: 1 << 20, StateMaxBytes: 2 << 20, InputMaxBytes: 3 << 20}
	if err := streams.Provision(ctx, js, o); err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, contract.StreamAlerts)
	if err != nil {
		t.Fatal(err)
	}
	info := s.CachedInfo()
	if info.Config.MaxAge != time.Hour || info.Config.MaxBytes != 1<<20 || info.State.Msgs != 10 {
		t.Fatalf("after update: max age %v, max bytes %d, %d messages; want 1h, 1 MiB, the 10 messages", info.Config.MaxAge, info.Config.MaxBytes, info.State.Msgs)
	}
	in, err := js.Stream(ctx, contract.StreamInput)
	if err != nil {
		t.Fatal(err)
	}
	if got := in.CachedInfo().Config.MaxBytes; got != 3<<20 {
		t.Fatalf("input max bytes %d after update", got)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config.MaxBytes; got != 2<<20 {
		t.Fatalf("bucket max bytes %d after update", got)
	}
	if e, err := kv.Get(ctx, "s1"); err != nil || string(e.Value()) != "v" {
		t.Fatalf("silence after update: %v", err)
	}
}

// On a three-node cluster, provisioning with Replicas 3 over streams and
// buckets created with 1 replica moves them to three servers without
// losing a message or a key; provisioning again changes nothing.
func TestProvisionScalesReplicasOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node cluster")
	}
	urls := natstest.Cluster(t, 3)
	_, js := natstest.Connect(t, strings.Join(urls, ","))
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	// A placement tag that one server carries puts the R1 streams there.
	if err := streams.Provision(ctx, js, streams.Options{Replicas: 1, PlacementTags: []string{"node:n1"}}); err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, contract.StreamAlerts)
	if err != nil {
		t.Fatal(err)
	}
	if leader := s.CachedInfo().Cluster.Leader; leader != "n1" {
		t.Fatalf("R1 stream placed on %q, want n1 (its tag)", leader)
	}
	pub := bus.NewPublisher(js, nil)
	for i := range 50 {
		if err := pub.Publish(contract.SubjectAlertsChanged, message.NewMessage(fmt.Sprint("c", i), []byte("x"))); err != nil {
			t.Fatal(err)
		}
	}
	kv, err := js.KeyValue(ctx, contract.BucketNflog)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "entry", []byte("sent")); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second run is the idempotent restart of a stage
		if err := streams.Provision(ctx, js, streams.Options{Replicas: 3}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{contract.StreamAlerts, "KV_" + contract.BucketNflog} {
		var info *jetstream.StreamInfo
		deadline := time.Now().Add(30 * time.Second)
		for {
			s, err := js.Stream(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			info = s.CachedInfo()
			current := 0
			for _, p := range info.Cluster.Replicas {
				if p.Current {
					current++
				}
			}
			if info.Config.Replicas == 3 && current == 2 || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond) // polling the cluster's catch-up, with a deadline
		}
		if info.Config.Replicas != 3 || len(info.Cluster.Replicas) != 2 {
			t.Fatalf("%s: replicas %d, peers %+v; want 3 replicas, a leader and 2 current followers", name, info.Config.Replicas, info.Cluster.Replicas)
		}
	}
	s, err = js.Stream(ctx, contract.StreamAlerts)
	if err != nil {
		t.Fatal(err)
	}
	if n := s.CachedInfo().State.Msgs; n != 50 {
		t.Fatalf("after scaling to R3 the stream holds %d messages, want the 50", n)
	}
	// A replicated bucket is read from its leader (no direct gets), so a
	// handle opened at R1 is opened again, as a restarted stage does.
	if kv, err = js.KeyValue(ctx, contract.BucketNflog); err != nil {
		t.Fatal(err)
	}
	if e, err := kv.Get(ctx, "entry"); err != nil || string(e.Value()) != "sent" {
		t.Fatalf("nflog entry after scaling to R3: %v", err)
	}
}
