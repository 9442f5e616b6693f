package kvjson_test

import (
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/klaxon-alerts/klaxon/pkg/kvjson"
	"github.com/klaxon-alerts/klaxon/pkg/natsembed/natstest"
)

type counter struct{ N int }

func bucket(t *testing.T) jetstream.KeyValue {
	t.Helper()
	_, js := natstest.Start(t)
	kv, err := js.CreateKeyValue(t.Context(), jetstream.KeyValueConfig{Bucket: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// Concurrent increments from many writers lose no update.
func TestMutateNoLostUpdate(t *testing.T) {
	kv := bucket(t)
	ctx := t.Context()
	const writers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for range writers {
		wg.Go(func() {
			for range each {
				_, err := kvjson.Mutate(ctx, kv, "k", func(c *counter) (*counter, error) {
					if c == nil {
						return &counter{N: 1}, nil
					}
					return &counter{N: c.N + 1}, nil
				})
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := kvjson.Get[counter](ctx, kv, "k")
	if err != nil {
		t.Fatal(err)
	}
	if got.Value == nil || got.Value.N != writers*each {
		t.Fatalf("counter = %+v, want %d", got.Value, writers*each)
	}
}

func TestMutateDeleteAndRecreate(t *testing.T) {
	kv := bucket(t)
	ctx := t.Context()
	set := func(n int) func(*counter) (*counter, error) {
		return func(*counter) (*counter, error) { return &counter{N: n}, nil }
	}
	if _, err := kvjson.Mutate(ctx, kv, "k", set(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := kvjson.Mutate(ctx, kv, "k", func(*counter) (*counter, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	if e, _ := kvjson.Get[counter](ctx, kv, "k"); e.Value != nil {
		t.Fatalf("deleted key still reads %+v", e.Value)
	}
	if _, err := kvjson.Mutate(ctx, kv, "k", set(2)); err != nil {
		t.Fatalf("recreate after delete: %v", err)
	}
	if e, _ := kvjson.Get[counter](ctx, kv, "k"); e.Value == nil || e.Value.N != 2 {
		t.Fatalf("got %+v, want 2", e.Value)
	}
}

// A function may change the value in place; ErrNoChange writes nothing.
func TestMutateInPlaceAndNoChange(t *testing.T) {
	kv := bucket(t)
	ctx := t.Context()
	inc := func(c *counter) (*counter, error) {
		if c == nil {
			c = &counter{}
		}
		c.N++
		return c, nil
	}
	for range 2 {
		if _, err := kvjson.Mutate(ctx, kv, "k", inc); err != nil {
			t.Fatal(err)
		}
	}
	e, err := kvjson.Mutate(ctx, kv, "k", func(*counter) (*counter, error) { return nil, kvjson.ErrNoChange })
	if err != nil {
		t.Fatal(err)
	}
	got, _ := kvjson.Get[counter](ctx, kv, "k")
	if got.Value.N != 2 || got.Revision != e.Revision {
		t.Fatalf("got %+v rev %d, want N=2 unchanged at rev %d", got.Value, got.Revision, e.Revision)
	}
}
