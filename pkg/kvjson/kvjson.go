// Package kvjson keeps JSON state in a JetStream KV bucket with
// compare-and-set: every change reads the entry, computes the next value and
// writes it only if nobody wrote in between, retrying on conflict. This is how
// replicas of a stage share state without a lost update.
package kvjson

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/klaxon-alerts/klaxon/pkg/fault"
)

// ErrConflict is returned when the retries are used up by concurrent writers.
var ErrConflict = errors.New("kv compare-and-set conflict")

// ErrNoChange, returned by a Mutate function, leaves the entry as it is.
var ErrNoChange = errors.New("no change")

// maxAttempts bounds the retries of one Mutate under contention; the input
// message is redelivered afterwards, so nothing is lost.
const maxAttempts = 64

// Entry is a decoded value with the revision it was read at (0: absent).
type Entry[T any] struct {
	Value    *T
	Revision uint64
}

// Get reads key; a missing key is an Entry with a nil Value.
func Get[T any](ctx context.Context, kv jetstream.KeyValue, key string) (Entry[T], error) {
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Entry[T]{}, nil
	}
	if err != nil {
		return Entry[T]{}, fmt.Errorf("kv get %s: %w", key, err)
	}
	var v T
	if err := json.Unmarshal(e.Value(), &v); err != nil {
		return Entry[T]{}, fault.Final(fmt.Errorf("kv decode %s: %w", key, err))
	}
	return Entry[T]{Value: &v, Revision: e.Revision()}, nil
}

// Mutate applies fn to the current value of key (nil when absent) and stores
// what it returns with compare-and-set, retrying fn on conflict. fn may change
// its argument in place and return it. Returning nil deletes the key;
// returning ErrNoChange writes nothing. fn may run several times, so its side
// effects must be idempotent. Mutate returns the stored entry.
func Mutate[T any](ctx context.Context, kv jetstream.KeyValue, key string, fn func(cur *T) (*T, error)) (Entry[T], error) {
	for attempt := range maxAttempts {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return Entry[T]{}, err
			}
		}
		cur, err := Get[T](ctx, kv, key)
		if err != nil {
			return Entry[T]{}, err
		}
		revision := cur.Revision
		next, err := fn(cur.Value)
		if errors.Is(err, ErrNoChange) {
			return cur, nil
		}
		if err != nil {
			return Entry[T]{}, err
		}
		rev, err := write(ctx, kv, key, revision, cur.Value != nil, next)
		if isConflict(err) {
			continue
		}
		if err != nil {
			return Entry[T]{}, err
		}
		return Entry[T]{Value: next, Revision: rev}, nil
	}
	return Entry[T]{}, fmt.Errorf("kv %s: %w", key, ErrConflict)
}

func write[T any](ctx context.Context, kv jetstream.KeyValue, key string, revision uint64, existed bool, next *T) (uint64, error) {
	if next == nil {
		if !existed {
			return 0, nil
		}
		err := kv.Delete(ctx, key, jetstream.LastRevision(revision))
		if err != nil {
			return 0, fmt.Errorf("kv delete %s: %w", key, err)
		}
		return 0, nil
	}
	data, err := json.Marshal(next)
	if err != nil {
		return 0, fault.Final(fmt.Errorf("kv encode %s: %w", key, err))
	}
	var rev uint64
	if !existed {
		rev, err = kv.Create(ctx, key, data)
	} else {
		rev, err = kv.Update(ctx, key, data, revision)
	}
	if err != nil {
		return 0, fmt.Errorf("kv write %s: %w", key, err)
	}
	return rev, nil
}

// backoff spreads out writers that conflicted, so that one of them wins.
func backoff(ctx context.Context, attempt int) error {
	d := time.Duration(rand.Int64N(int64(attempt) * int64(time.Millisecond)))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func isConflict(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, jetstream.ErrKeyExists) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}
