// Package nflogstore keeps the notification log (Entry values) in the
// JetStream KV bucket contract.BucketNflog, keyed by Key.
//
// Every write is a compare-and-set on the key's revision (Create when absent,
// Update with the last revision otherwise), so two notifier replicas never
// overwrite each other's record unseen: a conflict re-reads the entry and
// either finds that someone else already recorded this flush or a later one
// (the caller's send was a repeat) or retries on top of it.
package nflogstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/klaxon-alerts/klaxon/pkg/contract"
)

// Errors of the store.
var (
	// ErrConflict: the key is not at the revision the write expected.
	ErrConflict = errors.New("notification log entry changed concurrently")
	// ErrCorrupt: the stored value is not an entry. Get still returns its
	// revision, so that the caller can overwrite it.
	ErrCorrupt = errors.New("notification log entry is not valid JSON")
)

// maxConflicts bounds Commit's retries; each conflict means another writer
// made progress on the same key, so this is never reached in practice.
const maxConflicts = 16

// Store is the notification log over a KV bucket.
type Store struct {
	kv      jetstream.KeyValue
	metrics *Metrics
}

// New returns a store over kv that counts its queries in m (nil: not
// counted).
func New(kv jetstream.KeyValue, m *Metrics) *Store { return &Store{kv: kv, metrics: m} }

// Open binds to the existing bucket contract.BucketNflog (provisioned by
// pkg/streams).
func Open(ctx context.Context, js jetstream.JetStream, m *Metrics) (*Store, error) {
	kv, err := js.KeyValue(ctx, contract.BucketNflog)
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", contract.BucketNflog, err)
	}
	return New(kv, m), nil
}

// Get returns the entry at key and its revision, or (nil, 0, nil) when there
// is none. A value that does not decode is returned as (nil, revision, err)
// with err matching ErrCorrupt. Each call is a query of the metrics; one
// that finds nothing or fails is a query error, as in Alertmanager.
func (s *Store) Get(ctx context.Context, key string) (e *Entry, rev uint64, err error) {
	start := time.Now()
	defer func() { s.metrics.queried(time.Since(start).Seconds(), e == nil) }()
	return s.get(ctx, key)
}

func (s *Store) get(ctx context.Context, key string) (*Entry, uint64, error) {
	kve, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get nflog entry: %w", err)
	}
	var e Entry
	if err := json.Unmarshal(kve.Value(), &e); err != nil {
		return nil, kve.Revision(), fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return &e, kve.Revision(), nil
}

// Put writes e at key if the key is still at revision rev (0: absent) and
// returns the new revision; it fails with ErrConflict otherwise.
func (s *Store) Put(ctx context.Context, key string, e *Entry, rev uint64) (uint64, error) {
	value, err := json.Marshal(e)
	if err != nil {
		return 0, fmt.Errorf("encode nflog entry: %w", err)
	}
	var next uint64
	if rev == 0 {
		next, err = s.kv.Create(ctx, key, value)
		if errors.Is(err, jetstream.ErrKeyExists) {
			return 0, fmt.Errorf("%w: %w", ErrConflict, err)
		}
	} else {
		next, err = s.kv.Update(ctx, key, value, rev)
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return 0, fmt.Errorf("%w: %w", ErrConflict, err)
		}
	}
	if err != nil {
		return 0, fmt.Errorf("write nflog entry: %w", err)
	}
	return next, nil
}

// Create writes e at key if the key has no entry (Put at revision 0). It
// stands in for the read a caller skips when it assumes there is no entry,
// and is counted as that query in the metrics: one that found nothing (a
// query error, as Alertmanager counts it) when the create succeeds. A key
// that exists fails with ErrConflict, uncounted: the read that follows it
// counts.
func (s *Store) Create(ctx context.Context, key string, e *Entry) (uint64, error) {
	start := time.Now()
	rev, err := s.Put(ctx, key, e, 0)
	if !errors.Is(err, ErrConflict) {
		s.metrics.queried(time.Since(start).Seconds(), true)
	}
	return rev, err
}

// Commit records e, the entry of a notification just handled, starting from
// the revision rev its decision was made on. On a conflict it re-reads the
// key: when the stored entry already covers e's flush, another replica
// handled this flush or a later one, nothing is written and superseded is
// true (the caller's send, if any, repeated a notification); otherwise e is
// written on top of the newer revision.
func (s *Store) Commit(ctx context.Context, key string, e *Entry, rev uint64) (superseded bool, err error) {
	for range maxConflicts {
		_, err := s.Put(ctx, key, e, rev)
		if !errors.Is(err, ErrConflict) {
			return false, err
		}
		stored, storedRev, err := s.Get(ctx, key)
		if err != nil && !errors.Is(err, ErrCorrupt) {
			return false, err
		}
		if stored.Covers(e.FlushSeq, e.Timestamp) {
			return true, nil
		}
		rev = storedRev
	}
	return false, fmt.Errorf("%w: gave up after %d attempts", ErrConflict, maxConflicts)
}
