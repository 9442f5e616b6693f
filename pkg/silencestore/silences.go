// Package silencestore keeps silences in the JetStream KV bucket
// klaxon-silences, one key per silence, its history the audit trail, and a
// watched copy in every process so that every replica answers the same. The
// rules of a silence (validation, state, matching, update or replace) are
// package silence.
package silencestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/klaxon-alerts/klaxon/pkg/silence"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"golang.org/x/sync/errgroup"

	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/fault"
	"github.com/klaxon-alerts/klaxon/pkg/kvcache"
	"github.com/klaxon-alerts/klaxon/pkg/kvjson"
	"github.com/klaxon-alerts/klaxon/pkg/matcher"
)

// Defaults.
const (
	// DefaultRetention is how long an expired silence is kept (Alertmanager's
	// --data.retention default).
	DefaultRetention = 120 * time.Hour
	// DefaultGCInterval is how often expired silences past their retention
	// are removed (Alertmanager's maintenance interval).
	DefaultGCInterval = 15 * time.Minute
	// readYourWrite bounds the wait for the local cache to show a write.
	readYourWrite = 5 * time.Second
)

// The actions recorded in a silence's history.
const (
	ActionCreate = "create"
	ActionUpdate = "update"
	ActionExpire = "expire"
)

// Change is what one write did to a silence: the audit record stored with
// each revision of the silence's KV key.
type Change struct {
	Action string    `json:"action"`
	By     string    `json:"by,omitempty"`
	At     time.Time `json:"at"`
	// Replaces is set on a silence created to replace another (a change that
	// could not be made in place); ReplacedBy on the silence it replaced.
	Replaces   string `json:"replaces,omitempty"`
	ReplacedBy string `json:"replacedBy,omitempty"`
}

// Record is the value stored in the bucket: the silence and the change that
// produced this revision.
type Record struct {
	Silence silence.Silence `json:"silence"`
	Change  Change          `json:"change"`
}

// Revision is one entry of a silence's history.
type Revision struct {
	Record
	Revision uint64 `json:"revision"`
	// Deleted is true for the removal after the retention period.
	Deleted bool `json:"deleted,omitempty"`
}

// cached is a silence as the cache holds it: compiled, with its revision.
type cached struct {
	sil      silence.Silence
	matchers matcher.Matchers
	revision uint64
}

// Options configures Silences.
type Options struct {
	JS     jetstream.JetStream
	Logger *slog.Logger
	Now    func() time.Time
	// Retention is how long a silence is kept after it ended.
	Retention  time.Duration
	GCInterval time.Duration
	// NewID returns a new silence id; a random UUID by default.
	NewID func() string
	// Registerer, if set, gets klaxon_silences{state}.
	Registerer prometheus.Registerer
	// Matchers is the matcher mode whose label-name rule a silence's
	// matchers must meet.
	Matchers matcher.Mode
}

// Silences reads and writes silences. Writes go to the KV bucket with
// compare-and-set; reads come from the watched copy, which a write waits
// for, so a caller reads its own writes.
type Silences struct {
	opts  Options
	log   *slog.Logger
	cache *kvcache.Cache[*cached]
}

// New returns the silences of the bucket klaxon-silences; Run keeps the
// local copy current and removes silences past their retention.
func New(opts Options) (*Silences, error) {
	if opts.JS == nil {
		return nil, errors.New("silence: JS is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.GCInterval <= 0 {
		opts.GCInterval = DefaultGCInterval
	}
	if opts.NewID == nil {
		opts.NewID = uuid.NewString
	}
	log := opts.Logger.With("component", "silences")
	s := &Silences{opts: opts, log: log, cache: kvcache.New(opts.JS, contract.BucketSilences, decodeCached, log)}
	if opts.Registerer != nil {
		// Klaxon's name and Alertmanager's (silence.newMetrics).
		for _, name := range []string{"klaxon_silences", "alertmanager_silences"} {
			for _, st := range []silence.State{silence.StateActive, silence.StatePending, silence.StateExpired} {
				g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
					Name: name, Help: "How many silences by state.", ConstLabels: prometheus.Labels{"state": string(st)},
				}, func() float64 { return float64(s.count(st)) })
				if err := opts.Registerer.Register(g); err != nil {
					return nil, fmt.Errorf("silence metrics: %w", err)
				}
			}
		}
	}
	return s, nil
}

func decodeCached(e jetstream.KeyValueEntry) (*cached, error) {
	var r Record
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return nil, err
	}
	ms, err := r.Silence.Compile()
	if err != nil {
		return nil, err
	}
	return &cached{sil: r.Silence, matchers: ms, revision: e.Revision()}, nil
}

func (s *Silences) now() time.Time { return s.opts.Now().UTC() }

// Run keeps the local copy current and removes silences past their
// retention, until ctx is done.
func (s *Silences) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.cache.Run(gctx) })
	g.Go(func() error { return s.gcLoop(gctx) })
	return g.Wait()
}

func (s *Silences) gcLoop(ctx context.Context) error {
	if err := s.cache.Synced(ctx); err != nil {
		return nil // ctx ended
	}
	t := time.NewTicker(s.opts.GCInterval)
	defer t.Stop()
	for {
		if n, err := s.GC(ctx); err != nil {
			s.log.Warn("silence gc failed", "err", err)
		} else if n > 0 {
			s.log.Info("silences past retention removed", "count", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Synced waits until the local copy holds the bucket's silences.
func (s *Silences) Synced(ctx context.Context) error { return s.cache.Synced(ctx) }

func (s *Silences) kv(ctx context.Context) (jetstream.KeyValue, error) {
	kv, err := s.opts.JS.KeyValue(ctx, contract.BucketSilences)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", contract.BucketSilences, err)
	}
	return kv, nil
}

// validKey reports whether id can be a KV key (letters, digits, - _ = and
// dots between tokens); the ids Klaxon makes are UUIDs.
func validKey(id string) bool {
	if id == "" || strings.HasPrefix(id, ".") || strings.HasSuffix(id, ".") || strings.Contains(id, "..") {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_=/.", r)) {
			return false
		}
	}
	return true
}

// Set creates or changes a silence, with Alertmanager's semantics, and
// returns its id. Without an id a new silence is created. With an id the
// silence must exist (silence.ErrNotFound otherwise); if the change is allowed in
// place (silence.CanUpdate) the silence keeps its id, otherwise the old silence is
// expired and a new one is created with a new id, which is returned. A new
// silence never starts in the past: its start is moved to now. by names who
// made the change, for the history.
func (s *Silences) Set(ctx context.Context, sil silence.Silence, by string) (string, error) {
	now := s.now()
	sil = normalize(sil)
	if sil.StartsAt.IsZero() {
		sil.StartsAt = now
	}
	if err := sil.ValidateIn(s.opts.Matchers); err != nil {
		return "", err
	}
	kv, err := s.kv(ctx)
	if err != nil {
		return "", err
	}
	newID := s.opts.NewID()
	replaces := ""
	if sil.ID != "" {
		if _, known := s.cache.Get(sil.ID); !known && !validKey(sil.ID) {
			// Not a key the bucket can hold ("a.b.>"): no such silence.
			return "", silence.ErrNotFound
		}
		replace := false
		entry, err := kvjson.Mutate(ctx, kv, sil.ID, func(cur *Record) (*Record, error) {
			replace = false
			if cur == nil {
				return nil, silence.ErrNotFound
			}
			if silence.CanUpdate(&cur.Silence, &sil, now) {
				next := sil
				next.UpdatedAt = now
				return &Record{Silence: next, Change: Change{Action: ActionUpdate, By: by, At: now}}, nil
			}
			replace = true
			expired, ok := silence.Expired(cur.Silence, now)
			if !ok {
				return nil, kvjson.ErrNoChange
			}
			return &Record{Silence: expired, Change: Change{Action: ActionExpire, By: by, At: now, ReplacedBy: newID}}, nil
		})
		if err != nil {
			return "", fmt.Errorf("set silence %s: %w", sil.ID, err)
		}
		if !replace {
			s.await(ctx, entry.Revision)
			return sil.ID, nil
		}
		replaces = sil.ID
	}
	sil.ID = newID
	if sil.StartsAt.Before(now) {
		sil.StartsAt = now
	}
	sil.UpdatedAt = now
	if err := sil.ValidateIn(s.opts.Matchers); err != nil {
		return "", err
	}
	data, err := json.Marshal(Record{Silence: sil, Change: Change{Action: ActionCreate, By: by, At: now, Replaces: replaces}})
	if err != nil {
		return "", fault.Final(err)
	}
	rev, err := kv.Create(ctx, sil.ID, data)
	if err != nil {
		return "", fmt.Errorf("create silence %s: %w", sil.ID, err)
	}
	s.await(ctx, rev)
	return sil.ID, nil
}

// normalize puts times in UTC and drops the fields the store sets itself.
func normalize(s silence.Silence) silence.Silence {
	s.StartsAt, s.EndsAt = s.StartsAt.UTC(), s.EndsAt.UTC()
	s.UpdatedAt = time.Time{}
	s.Matchers = slices.Clone(s.Matchers)
	return s
}

// Expire ends the silence now (a pending one starts and ends now).
// Expiring an expired silence does nothing; an unknown id is silence.ErrNotFound.
func (s *Silences) Expire(ctx context.Context, id, by string) error {
	kv, err := s.kv(ctx)
	if err != nil {
		return err
	}
	now := s.now()
	entry, err := kvjson.Mutate(ctx, kv, id, func(cur *Record) (*Record, error) {
		if cur == nil {
			return nil, silence.ErrNotFound
		}
		expired, ok := silence.Expired(cur.Silence, now)
		if !ok {
			return nil, kvjson.ErrNoChange
		}
		return &Record{Silence: expired, Change: Change{Action: ActionExpire, By: by, At: now}}, nil
	})
	if err != nil {
		return fmt.Errorf("expire silence %s: %w", id, err)
	}
	s.await(ctx, entry.Revision)
	return nil
}

// await waits, bounded, until the local copy shows revision rev. The write
// is done either way; a slow watch only delays what this process reads.
func (s *Silences) await(ctx context.Context, rev uint64) {
	if rev == 0 {
		return
	}
	wctx, cancel := context.WithTimeout(ctx, readYourWrite)
	defer cancel()
	if err := s.cache.WaitRevision(wctx, rev); err != nil {
		s.log.Warn("silence written but not yet seen by the local copy", "revision", rev, "err", err)
	}
}

// Get returns the silence with id (silence.ErrNotFound if there is none).
func (s *Silences) Get(ctx context.Context, id string) (silence.Silence, error) {
	if err := s.cache.Synced(ctx); err != nil {
		return silence.Silence{}, err
	}
	c, ok := s.cache.Get(id)
	if !ok {
		return silence.Silence{}, silence.ErrNotFound
	}
	return c.sil, nil
}

// List returns every stored silence, in Alertmanager's API order at now.
func (s *Silences) List(ctx context.Context) ([]silence.Silence, error) {
	if err := s.cache.Synced(ctx); err != nil {
		return nil, err
	}
	all, _ := s.cache.Values()
	out := make([]silence.Silence, 0, len(all))
	for _, c := range all {
		out = append(out, c.sil)
	}
	silence.Sort(out, s.now())
	return out, nil
}

// Mutes returns the ids of the silences active at now whose matchers all
// match ls, sorted; none means the label set is not silenced.
func (s *Silences) Mutes(ctx context.Context, ls model.LabelSet, now time.Time) ([]string, error) {
	if err := s.cache.Synced(ctx); err != nil {
		return nil, err
	}
	all, _ := s.cache.Values()
	var ids []string
	for _, c := range all {
		if c.sil.State(now) == silence.StateActive && c.matchers.Matches(ls) {
			ids = append(ids, c.sil.ID)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

func (s *Silences) count(st silence.State) int {
	all, _ := s.cache.Values()
	now := s.now()
	n := 0
	for _, c := range all {
		if c.sil.State(now) == st {
			n++
		}
	}
	return n
}

// GC removes the silences that ended more than the retention ago, history
// included. Several replicas may run it at once: each removal is a
// compare-and-set on the revision the replica saw, so a silence changed
// meanwhile is left for the next run.
func (s *Silences) GC(ctx context.Context) (int, error) {
	if err := s.cache.Synced(ctx); err != nil {
		return 0, err
	}
	kv, err := s.kv(ctx)
	if err != nil {
		return 0, err
	}
	now := s.now()
	all, _ := s.cache.Values()
	n := 0
	var errs []error
	for _, c := range all {
		if c.sil.EndsAt.Add(s.opts.Retention).After(now) {
			continue
		}
		err := kv.Purge(ctx, c.sil.ID, jetstream.LastRevision(c.revision))
		var apiErr *jetstream.APIError
		switch {
		case err == nil:
			n++
		case errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence:
			// Changed or removed by someone else since we looked.
		default:
			errs = append(errs, fmt.Errorf("purge silence %s: %w", c.sil.ID, err))
		}
	}
	return n, errors.Join(errs...)
}

// History returns every stored revision of a silence, oldest first: the
// audit trail of who created, changed and expired it. The bucket keeps the
// last 64 revisions of a key; a silence removed after its retention has no
// history left.
func (s *Silences) History(ctx context.Context, id string) ([]Revision, error) {
	kv, err := s.kv(ctx)
	if err != nil {
		return nil, err
	}
	entries, err := kv.History(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, silence.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("silence %s history: %w", id, err)
	}
	out := make([]Revision, 0, len(entries))
	for _, e := range entries {
		r := Revision{Revision: e.Revision()}
		if e.Operation() != jetstream.KeyValuePut {
			r.Deleted = true
			r.Change.At = e.Created().UTC()
		} else if err := json.Unmarshal(e.Value(), &r.Record); err != nil {
			return nil, fault.Final(fmt.Errorf("silence %s revision %d: %w", id, e.Revision(), err))
		}
		out = append(out, r)
	}
	return out, nil
}
