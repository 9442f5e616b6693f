package kvcache

import (
	"context"
	"log/slog"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
)

// Alerts is the watched copy of the KV bucket klaxon-alerts (dedup's state)
// by fingerprint: the sources of inhibition, the API's alerts, and the
// latest state a grouper's flush judges alerts by.
//
// A value is decoded when it is first read, not when it arrives: dedup
// rewrites an alert's value at every re-send that moves its endsAt
// (Prometheus' steady state), and most of those values are replaced before
// anything reads them. Decoding each on arrival was 8% of Klaxon's CPU
// under re-sends.
//
// The decoded alerts share their label sets and annotations through pool
// with the process's other holders of the same alerts; an alert that leaves
// the bucket leaves the pool.
type Alerts struct {
	cache *Cache[*lazyAlert]
	pool  *alert.Pool
	log   *slog.Logger
}

// lazyAlert is a value as it arrived, decoded once on first use.
type lazyAlert struct {
	key   string
	raw   []byte
	once  sync.Once
	alert *alert.Alert // nil when raw does not decode
}

// NewAlerts returns the watched copy of klaxon-alerts; run it with Run.
// pool may be nil.
func NewAlerts(js jetstream.JetStream, pool *alert.Pool, log *slog.Logger) *Alerts {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	keep := func(e jetstream.KeyValueEntry) (*lazyAlert, error) {
		return &lazyAlert{key: e.Key(), raw: e.Value()}, nil
	}
	cache := New(js, contract.BucketAlerts, keep, log)
	if pool != nil {
		cache.gone = pool.Forget
	}
	return &Alerts{cache: cache, pool: pool, log: log.With("component", "kvcache", "bucket", contract.BucketAlerts)}
}

// decoded is l's alert; a value that does not decode is logged once and
// read as absent.
func (a *Alerts) decoded(l *lazyAlert) *alert.Alert {
	l.once.Do(func() {
		var s contract.StoredAlert
		if err := s.UnmarshalJSON(l.raw); err != nil {
			a.log.Warn("kv entry not decodable; skipped", "key", l.key, "err", err)
		} else {
			a.pool.Share(l.key, &s.Alert)
			l.alert = &s.Alert
		}
		l.raw = nil
	})
	return l.alert
}

// Run keeps the copy current until ctx is done (Cache.Run).
func (a *Alerts) Run(ctx context.Context) error { return a.cache.Run(ctx) }

// Synced waits for the first complete copy (Cache.Synced).
func (a *Alerts) Synced(ctx context.Context) error { return a.cache.Synced(ctx) }

// WaitRevision waits until the copy is current as of rev (Cache.WaitRevision).
func (a *Alerts) WaitRevision(ctx context.Context, rev uint64) error {
	return a.cache.WaitRevision(ctx, rev)
}

// Revision is the highest bucket revision applied.
func (a *Alerts) Revision() uint64 { return a.cache.Revision() }

// Get returns the alert of fingerprint fp. The value is shared: read-only.
func (a *Alerts) Get(fp string) (*alert.Alert, bool) {
	l, ok := a.cache.Get(fp)
	if !ok {
		return nil, false
	}
	v := a.decoded(l)
	return v, v != nil
}

// Values returns every alert (shared: read-only) and the revision they are
// current as of.
func (a *Alerts) Values() ([]*alert.Alert, uint64) {
	entries, rev := a.cache.Values()
	out := make([]*alert.Alert, 0, len(entries))
	for _, l := range entries {
		if v := a.decoded(l); v != nil {
			out = append(out, v)
		}
	}
	return out, rev
}
