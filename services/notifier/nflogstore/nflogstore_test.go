package nflogstore

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/natsembed/natstest"
	"github.com/klaxon-alerts/klaxon/pkg/nflog"
)

func newStore(t *testing.T) (*Store, jetstream.KeyValue) {
	t.Helper()
	_, js := natstest.Start(t)
	ctx := t.Context()
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: contract.BucketNflog})
	if err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	s, err := Open(ctx, js, nil)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s, kv
}

func entry(seq uint64, at time.Time, firing ...string) *Entry {
	return &Entry{
		GroupKey:    `{}:{alertname="A"}`,
		Integration: contract.Integration{Receiver: "r", Type: "webhook"},
		State:       nflog.State{Firing: firing, Resolved: []string{}, Timestamp: at},
		FlushSeq:    seq,
	}
}

func TestGetPut(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	key := Key(`{}:{alertname="A"}`, contract.Integration{Receiver: "r", Type: "webhook"})

	got, rev, err := s.Get(ctx, key)
	if err != nil || got != nil || rev != 0 {
		t.Fatalf("Get absent = %v, %d, %v", got, rev, err)
	}
	rev1, err := s.Put(ctx, key, entry(1, t0, "a"), 0)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if _, err := s.Put(ctx, key, entry(1, t0, "a"), 0); !errors.Is(err, ErrConflict) {
		t.Fatalf("second create: err %v, want ErrConflict", err)
	}
	got, rev, err = s.Get(ctx, key)
	if err != nil || rev != rev1 || got.FlushSeq != 1 || !got.Timestamp.Equal(t0) || len(got.Firing) != 1 || got.Firing[0] != "a" {
		t.Fatalf("Get = %+v, %d, %v", got, rev, err)
	}
	rev2, err := s.Put(ctx, key, entry(2, t0.Add(time.Minute), "a", "b"), rev1)
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if _, err := s.Put(ctx, key, entry(3, t0.Add(2*time.Minute)), rev1); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale update: err %v, want ErrConflict", err)
	}
	if _, rev, _ := s.Get(ctx, key); rev != rev2 {
		t.Fatalf("revision %d, want %d", rev, rev2)
	}
}

func TestGetCorrupt(t *testing.T) {
	s, kv := newStore(t)
	ctx := t.Context()
	rev, err := kv.Put(ctx, "k", []byte("not json"))
	if err != nil {
		t.Fatal(err)
	}
	got, gotRev, err := s.Get(ctx, "k")
	if !errors.Is(err, ErrCorrupt) || got != nil || gotRev != rev {
		t.Fatalf("Get corrupt = %v, %d, %v", got, gotRev, err)
	}
	// The revision lets the caller overwrite it.
	if _, err := s.Put(ctx, "k", entry(1, time.Now()), gotRev); err != nil {
		t.Fatalf("overwrite corrupt: %v", err)
	}
}

func TestCommit(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	t.Run("absent", func(t *testing.T) {
		superseded, err := s.Commit(ctx, "absent", entry(1, t0, "a"), 0)
		if err != nil || superseded {
			t.Fatalf("Commit = %v, %v", superseded, err)
		}
	})
	t.Run("conflict with the same flush: superseded", func(t *testing.T) {
		if _, err := s.Put(ctx, "same", entry(3, t0, "a"), 0); err != nil {
			t.Fatal(err)
		}
		// Decided on "absent" (rev 0), but another replica recorded flush 3.
		superseded, err := s.Commit(ctx, "same", entry(3, t0, "a"), 0)
		if err != nil || !superseded {
			t.Fatalf("Commit = %v, %v; want superseded", superseded, err)
		}
	})
	t.Run("conflict with an older flush: written on top", func(t *testing.T) {
		rev, err := s.Put(ctx, "older", entry(1, t0, "a"), 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Put(ctx, "older", entry(2, t0.Add(time.Minute), "a"), rev); err != nil {
			t.Fatal(err)
		}
		superseded, err := s.Commit(ctx, "older", entry(3, t0.Add(2*time.Minute), "a", "b"), rev)
		if err != nil || superseded {
			t.Fatalf("Commit = %v, %v", superseded, err)
		}
		got, _, _ := s.Get(ctx, "older")
		if got.FlushSeq != 3 {
			t.Fatalf("stored seq %d, want 3", got.FlushSeq)
		}
	})
}

// TestCommitConcurrent races writers of successive flushes on one key from
// the same starting revision: every write lands or is superseded, and the
// stored entry ends at the highest flush.
func TestCommitConcurrent(t *testing.T) {
	s, _ := newStore(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const writers = 8
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		seq := uint64(i + 1)
		wg.Go(func() {
			if _, err := s.Commit(ctx, "k", entry(seq, t0.Add(time.Duration(seq)*time.Second)), 0); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("commit: %v", err)
	}
	got, _, err := s.Get(ctx, "k")
	if err != nil || got.FlushSeq != writers {
		t.Fatalf("final entry %+v, %v; want seq %d", got, err, writers)
	}
}

// Every Get is a query; one that finds no entry, or a corrupt one, is a
// query error (as in Alertmanager, whose DedupStage's first query of a
// group fails with ErrNotFound); a write is no query.
func TestQueryMetrics(t *testing.T) {
	s, kv := newStore(t)
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	s.metrics = m
	ctx := t.Context()
	want := func(queries, errs float64) {
		t.Helper()
		if q, e := testutil.ToFloat64(m.queries), testutil.ToFloat64(m.queryErrors); q != queries || e != errs {
			t.Fatalf("queries %v, errors %v; want %v, %v", q, e, queries, errs)
		}
		if n := testutil.CollectAndCount(reg, "alertmanager_nflog_query_duration_seconds"); n != 1 {
			t.Fatalf("%d duration series", n)
		}
	}
	want(0, 0)
	if _, _, err := s.Get(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	want(1, 1)
	if _, err := s.Put(ctx, "k", entry(1, time.Now(), "a"), 0); err != nil {
		t.Fatal(err)
	}
	want(1, 1)
	if e, _, err := s.Get(ctx, "k"); err != nil || e == nil {
		t.Fatal(e, err)
	}
	want(2, 1)
	if _, err := kv.Put(ctx, "bad", []byte("{")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Get(ctx, "bad"); !errors.Is(err, ErrCorrupt) {
		t.Fatal(err)
	}
	want(3, 2)
}
