// Package kvcache keeps an in-memory copy of a JetStream KV bucket, kept
// current by a KV watch: every process that needs to read a bucket often
// (silences, the alerts that may inhibit others) reads its own copy, and all
// copies converge on the bucket's state within the time NATS takes to deliver
// an update. The bucket stays the only source of truth; a cache can be thrown
// away and rebuilt at any time.
//
// A writer that wants to read its own write waits for the revision the write
// returned (WaitRevision), so a client that creates a silence through one
// ingest replica and reads it back through the same replica always sees it.
package kvcache

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrNotSynced is returned by Synced and WaitRevision when the context ends
// before the cache has caught up.
var ErrNotSynced = errors.New("kv cache not synced")

// Decode turns a KV entry (a put) into the cached value. An error skips the
// entry (it is logged): a malformed value must not stop the cache.
type Decode[T any] func(e jetstream.KeyValueEntry) (T, error)

// Cache is the in-memory copy of one bucket. Values are shared between
// readers: treat them as read-only.
type Cache[T any] struct {
	js     jetstream.JetStream
	bucket string
	decode Decode[T]
	log    *slog.Logger
	// retry is the pause before a stopped watch is restarted.
	retry time.Duration
	// gone, when set, is told of each key that leaves the copy.
	gone func(key string)

	mu       sync.RWMutex
	entries  map[string]T
	revision uint64 // highest revision applied (puts, deletes and purges)
	synced   bool
	// changed is closed and replaced whenever revision or synced changes.
	changed chan struct{}
}

// New returns a cache of bucket; Run fills it and keeps it current.
func New[T any](js jetstream.JetStream, bucket string, decode Decode[T], log *slog.Logger) *Cache[T] {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Cache[T]{
		js: js, bucket: bucket, decode: decode, retry: time.Second,
		log:     log.With("component", "kvcache", "bucket", bucket),
		entries: map[string]T{}, changed: make(chan struct{}),
	}
}

// Run watches the bucket until ctx is done. A watch that stops (the
// connection was closed, the consumer lost) is started again, and the cache
// is rebuilt from the bucket's current values.
func (c *Cache[T]) Run(ctx context.Context) error {
	for {
		err := c.watch(ctx)
		if ctx.Err() != nil {
			return nil
		}
		c.log.Warn("kv watch stopped; restarting", "err", err, "in", c.retry)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(c.retry):
		}
	}
}

// watch fills a fresh map with the bucket's values (Scan), replaces the
// cached one with it, then applies every change after them from a KV watch
// resumed at the scan's revision: a restarted watch forgets keys deleted
// meanwhile and readers never see a half-built copy.
func (c *Cache[T]) watch(ctx context.Context) error {
	kv, err := c.js.KeyValue(ctx, c.bucket)
	if err != nil {
		return fmt.Errorf("bucket %s: %w", c.bucket, err)
	}
	initial := map[string]T{}
	rev, err := Scan(ctx, c.js, c.bucket, func(e jetstream.KeyValueEntry) { c.applyTo(initial, e) })
	if err != nil {
		return err
	}
	c.replace(initial, rev)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := kv.WatchAll(wctx, jetstream.ResumeFromRevision(rev+1))
	if err != nil {
		return fmt.Errorf("watch %s: %w", c.bucket, err)
	}
	defer stop(w)
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("watcher closed")
			}
			if e != nil { // nil: the watch has caught up
				c.apply(e)
			}
		}
	}
}

// stop ends a watch and drains its channel until the watcher closes it, so
// that the subscription's delivery goroutine, which may be blocked sending
// an update, can finish.
func stop(w jetstream.KeyWatcher) {
	_ = w.Stop()
	timeout := time.NewTimer(2 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case _, ok := <-w.Updates():
			if !ok {
				return
			}
		case <-timeout.C:
			return
		}
	}
}

func (c *Cache[T]) applyTo(m map[string]T, e jetstream.KeyValueEntry) {
	if e.Operation() != jetstream.KeyValuePut {
		c.remove(m, e.Key())
		return
	}
	v, err := c.decode(e)
	if err != nil {
		c.log.Warn("kv entry not decodable; skipped", "key", e.Key(), "revision", e.Revision(), "err", err)
		c.remove(m, e.Key())
		return
	}
	m[e.Key()] = v
}

func (c *Cache[T]) remove(m map[string]T, key string) {
	delete(m, key)
	if c.gone != nil {
		c.gone(key)
	}
}

func (c *Cache[T]) apply(e jetstream.KeyValueEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.applyTo(c.entries, e)
	c.revision = max(c.revision, e.Revision())
	c.notifyLocked()
}

func (c *Cache[T]) replace(m map[string]T, rev uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone != nil {
		for key := range c.entries {
			if _, ok := m[key]; !ok {
				c.gone(key)
			}
		}
	}
	c.entries = m
	c.revision = max(c.revision, rev)
	c.synced = true
	c.notifyLocked()
}

func (c *Cache[T]) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Synced waits until the cache holds the bucket's values as of its first
// watch, or ctx ends (ErrNotSynced).
func (c *Cache[T]) Synced(ctx context.Context) error {
	return c.waitFor(ctx, func() bool { return c.synced })
}

// WaitRevision waits until the cache has applied every change up to the
// bucket revision rev (e.g. the revision a write returned).
func (c *Cache[T]) WaitRevision(ctx context.Context, rev uint64) error {
	return c.waitFor(ctx, func() bool { return c.synced && c.revision >= rev })
}

func (c *Cache[T]) waitFor(ctx context.Context, done func() bool) error {
	for {
		c.mu.RLock()
		ok, ch := done(), c.changed
		c.mu.RUnlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %s: %w", ErrNotSynced, c.bucket, ctx.Err())
		case <-ch:
		}
	}
}

// Get returns the cached value of key.
func (c *Cache[T]) Get(key string) (T, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := c.entries[key]
	return v, ok
}

// Len is the number of cached keys.
func (c *Cache[T]) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}

// Revision is the highest bucket revision the cache has applied.
func (c *Cache[T]) Revision() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.revision
}

// Values returns the cached values (in no particular order) and the revision
// they are current as of.
func (c *Cache[T]) Values() ([]T, uint64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]T, 0, len(c.entries))
	for _, v := range c.entries {
		out = append(out, v)
	}
	return out, c.revision
}

// Snapshot reads the current value of every key of bucket once, without
// keeping a copy (Scan).
func Snapshot[T any](ctx context.Context, js jetstream.JetStream, bucket string, decode Decode[T]) (map[string]T, error) {
	out := map[string]T{}
	var bad error
	_, err := Scan(ctx, js, bucket, func(e jetstream.KeyValueEntry) {
		v, err := decode(e)
		if err != nil {
			bad = cmp.Or(bad, fmt.Errorf("%s key %s: %w", bucket, e.Key(), err))
			return
		}
		out[e.Key()] = v
	})
	if err := cmp.Or(err, bad); err != nil {
		return nil, err
	}
	return out, nil
}
