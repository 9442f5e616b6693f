// Package configstore keeps the one running configuration of every Klaxon
// process in a JetStream KV bucket (klaxon-config, with history), so that all
// stages of all replicas run the same revision.
//
// A process loads its --config.file at start and publishes it when it
// differs from the stored one; it then runs whatever the bucket holds and
// switches atomically when it changes. A reload (SIGHUP, POST /-/reload)
// re-reads the file, validates it and publishes it once; an invalid file is
// rejected with its error (file:line) and the running config stays, in this
// process and every other.
//
// A follower (Follow, or no File) never writes the bucket and needs only
// read access to it (see the README's NATS permissions): it waits for the
// running config another process published and runs it.
//
// Secrets never reach the bucket in clear. A revision carries the config
// with every secret masked, for people reading the bucket, and the file as
// loaded sealed (AES-256-GCM) with the publisher's config key, if it has
// one. A process runs a revision from its own file when that has the same
// hash (re-reading it once when it does not: a file shared by all processes
// is enough), else by opening the sealed copy with the same key; with
// neither it refuses the revision (ErrSealed).
package configstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
)

// key is the bucket key of the running config.
const key = "running"

// Revision is a config as stored in the bucket.
type Revision struct {
	// File is the path the config was loaded from; relative paths in it
	// (templates, *_file) are resolved against its directory.
	File string `json:"file"`
	// Masked is the config with every secret shown as <secret>: for
	// people; it is never parsed.
	Masked string `json:"masked"`
	// Sealed is the file as loaded, sealed with the publisher's config key;
	// empty when the publisher has none.
	Sealed []byte `json:"sealed,omitempty"`
	// Hash is the SHA-256 of the file as loaded.
	Hash      string    `json:"hash"`
	Published time.Time `json:"published"`
	// Legacy is the clear-text file of revisions before sealing; a
	// publisher that finds one replaces it and purges its history.
	Legacy string `json:"yaml,omitempty"`
}

// Options configures a Store.
type Options struct {
	JS jetstream.JetStream
	// File is the config file of this process; "" has none (a follower).
	File string
	// Follow runs the config another process publishes and never writes
	// the bucket; File, if set, only supplies the secrets.
	Follow bool
	// Key seals the revisions this process publishes and opens those it
	// runs without a matching file; nil: none (see the package doc).
	Key []byte
	// Validate checks what config.Load does not (e.g. that templates
	// parse); nil accepts every config that loads.
	Validate func(*config.Config) error
	// Parser reads the file and the revisions (its matcher mode).
	Parser     config.Parser
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
	// Loaded, if set, is File as the caller already loaded and validated
	// it; Open then does not read the file again.
	Loaded *config.Config
}

// Store holds the running config.
type Store struct {
	opts    Options
	log     *slog.Logger
	running atomic.Pointer[config.Config]
	// local is this process's file as last loaded.
	local  atomic.Pointer[config.Config]
	kv     jetstream.KeyValue
	reload sync.Mutex // one reload at a time in this process

	metrics *reloadMetrics
}

// ErrInvalid wraps the error of a config that was rejected.
var ErrInvalid = errors.New("invalid configuration")

// ErrFollower is returned by Reload in a follower.
var ErrFollower = errors.New("this process follows the config another process publishes: reload that one")

// ErrSealed is returned for a revision this process can neither match with
// its own file nor open with its key.
var ErrSealed = errors.New("the running config is sealed: this process has neither the same config file nor the key it was sealed with")

// followRetry is how often a follower looks for the running config while
// none is published yet.
const followRetry = 500 * time.Millisecond

// Open loads the file, publishes it if it differs from the stored running
// config, and returns a Store running the stored one. Run keeps it current.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Store{
		opts: opts,
		log:  opts.Logger.With("component", "config"),
	}
	m, err := newReloadMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	cfg := opts.Loaded
	if cfg == nil && opts.File != "" {
		if cfg, err = s.loadFile(); err != nil {
			return nil, err
		}
	}
	if cfg != nil {
		s.local.Store(cfg)
	}
	if s.follower() {
		return s.follow(ctx)
	}
	kv, err := opts.JS.KeyValue(ctx, contract.BucketConfig)
	if err != nil {
		return nil, fmt.Errorf("config bucket %s: %w", contract.BucketConfig, err)
	}
	s.kv = kv
	if err := s.publish(ctx, cfg); err != nil {
		return nil, err
	}
	entry, err := kv.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read running config: %w", err)
	}
	if err := s.adopt(entry.Value()); err != nil {
		return nil, err
	}
	return s, nil
}

// follow waits until the bucket and a running config exist (the process
// with the file provisions and publishes them) and adopts it.
func (s *Store) follow(ctx context.Context) (*Store, error) {
	for {
		err := s.tryFollow(ctx)
		if err == nil {
			return s, nil
		}
		if errors.Is(err, ErrInvalid) || errors.Is(err, ErrSealed) {
			return nil, err
		}
		s.log.Info("waiting for the running config", "bucket", contract.BucketConfig, "err", err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for the running config: %w", errors.Join(ctx.Err(), err))
		case <-time.After(followRetry):
		}
	}
}

func (s *Store) tryFollow(ctx context.Context) error {
	if s.kv == nil {
		kv, err := s.opts.JS.KeyValue(ctx, contract.BucketConfig)
		if err != nil {
			return fmt.Errorf("config bucket %s: %w", contract.BucketConfig, err)
		}
		s.kv = kv
	}
	entry, err := s.kv.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("read running config: %w", err)
	}
	return s.adopt(entry.Value())
}

// Current returns the running config.
func (s *Store) Current() *config.Config { return s.running.Load() }

// Reload re-reads the file and, if it is valid, publishes it to every
// process. An invalid file returns an error wrapping ErrInvalid and changes
// nothing.
func (s *Store) Reload(ctx context.Context) error {
	if s.follower() {
		return ErrFollower
	}
	s.reload.Lock()
	defer s.reload.Unlock()
	cfg, err := s.loadFile()
	if err != nil {
		s.metrics.failed()
		s.log.Error("config reload rejected; the running config stays", "file", s.opts.File, "err", err)
		return err
	}
	if err := s.publish(ctx, cfg); err != nil {
		s.metrics.failed()
		return err
	}
	return nil
}

// Run follows the bucket until ctx is done, switching to every new
// revision.
func (s *Store) Run(ctx context.Context) error {
	// From the current value, not updates only: a revision published between
	// Open and this watch must not be missed. Adopting the running revision
	// again changes nothing.
	w, err := s.kv.Watch(ctx, key)
	if err != nil {
		return fmt.Errorf("watch running config: %w", err)
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return nil
			}
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue
			}
			if err := s.adopt(e.Value()); err != nil {
				s.metrics.failed()
				s.log.Error("stored config rejected; the running config stays", "err", err)
			}
		}
	}
}

func (s *Store) follower() bool { return s.opts.Follow || s.opts.File == "" }

func (s *Store) loadFile() (*config.Config, error) {
	cfg, err := Load(s.opts.Parser, s.opts.File, s.opts.Validate)
	if err == nil {
		s.local.Store(cfg)
	}
	return cfg, err
}

// Load loads a config file with p and validates it; its error wraps
// ErrInvalid.
func Load(p config.Parser, file string, validate func(*config.Config) error) (*config.Config, error) {
	cfg, err := p.Load(file)
	if err == nil && validate != nil {
		err = validate(cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return cfg, nil
}

// publish stores cfg as the running config unless it already is.
func (s *Store) publish(ctx context.Context, cfg *config.Config) error {
	entry, err := s.kv.Get(ctx, key)
	var cur Revision
	var rev uint64
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
	case err != nil:
		return fmt.Errorf("read running config: %w", err)
	default:
		rev = entry.Revision()
		err := json.Unmarshal(entry.Value(), &cur)
		if err == nil && cur.Hash == cfg.Hash() && cur.Legacy == "" && (cur.Sealed != nil) == (s.opts.Key != nil) {
			s.applied(cfg)
			return nil
		}
		if err != nil || cur.Legacy != "" {
			// A clear-text revision: remove it and its history.
			if err := s.kv.Purge(ctx, key); err != nil {
				return fmt.Errorf("purge clear-text config revisions: %w", err)
			}
			rev = 0
		}
	}
	r := Revision{File: s.opts.File, Masked: cfg.String(), Hash: cfg.Hash(), Published: s.opts.Now().UTC()}
	if s.opts.Key != nil {
		if r.Sealed, err = seal(s.opts.Key, []byte(cfg.Original)); err != nil {
			return err
		}
	}
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if rev == 0 {
		_, err = s.kv.Create(ctx, key, data)
	} else {
		_, err = s.kv.Update(ctx, key, data, rev)
	}
	if err != nil {
		return fmt.Errorf("publish running config: %w", err)
	}
	s.log.Info("config published", "file", s.opts.File, "hash", cfg.Hash())
	return nil
}

// adopt parses a stored revision and makes it the running config.
func (s *Store) adopt(data []byte) error {
	var r Revision
	if err := json.Unmarshal(data, &r); err != nil {
		return fmt.Errorf("decode running config: %w", err)
	}
	cfg, err := s.resolve(r)
	if err != nil {
		return err
	}
	if cur := s.running.Load(); cur == nil || cur.Hash() != cfg.Hash() {
		s.running.Store(cfg)
		s.log.Info("config applied", "hash", cfg.Hash(), "file", r.File)
	}
	s.applied(cfg)
	return nil
}

// resolve returns the config of a revision: this process's file if it has
// the revision's hash (re-read once, as it may have changed since), else
// the sealed copy opened with this process's key.
func (s *Store) resolve(r Revision) (*config.Config, error) {
	if local := s.local.Load(); local != nil && local.Hash() == r.Hash {
		return local, nil
	}
	if s.opts.File != "" {
		if local, err := s.loadFile(); err == nil && local.Hash() == r.Hash {
			return local, nil
		}
	}
	yaml := []byte(r.Legacy)
	if r.Legacy == "" {
		if r.Sealed == nil || s.opts.Key == nil {
			return nil, fmt.Errorf("config %s: %w", r.Hash, ErrSealed)
		}
		var err error
		if yaml, err = open(s.opts.Key, r.Sealed); err != nil {
			return nil, fmt.Errorf("config %s: %w: %w", r.Hash, ErrSealed, err)
		}
	}
	cfg, err := s.opts.Parser.Parse(yaml, r.File)
	if err == nil && s.opts.Validate != nil {
		err = s.opts.Validate(cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return cfg, nil
}

func (s *Store) applied(cfg *config.Config) {
	s.metrics.applied(s.opts.Now(), cfg.HashValue())
}
