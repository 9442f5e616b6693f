// Package peers keeps the list of live Klaxon processes in the KV bucket
// contract.BucketPeers: each process joins with one key (its id) that it
// rewrites on every heartbeat, and the bucket's TTL (streams.PeersTTL)
// drops the key of a process that stopped heartbeating, so a killed
// process leaves the list within that time. A process that stops cleanly
// deletes its key at once.
//
// The list is what /api/v2/status shows as Alertmanager's cluster peers,
// and how a stage learns the live replicas of every stage (LiveReplicas).
package peers

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Peer is one Klaxon process as it announces itself.
type Peer struct {
	// ID is the process's key in the bucket, random per start.
	ID string `json:"id"`
	// Name is what the process is called in /api/v2/status (its ID unless
	// set).
	Name string `json:"name"`
	// Address is where its HTTP listener is reached (host:port).
	Address string `json:"address"`
	// Stages are the stages it runs.
	Stages  []string  `json:"stages"`
	Version string    `json:"version"`
	Started time.Time `json:"started"`
	// Heartbeat is when the process last announced itself, by its clock.
	Heartbeat time.Time `json:"heartbeat"`
}

// NewID returns a random peer id: 26 base32 characters, the length of the
// ULIDs Alertmanager names its peers with, and a valid KV key.
func NewID() string { return rand.Text() }

// Member is a process's membership: a goroutine that heartbeats its key
// until the ctx given to Join is done, then deletes the key.
type Member struct {
	self Peer
	kv   jetstream.KeyValue
	done chan struct{}
}

// Self is the peer this member announces.
func (m *Member) Self() Peer { return m.self }

// KV is the bucket the member heartbeats in, for List.
func (m *Member) KV() jetstream.KeyValue { return m.kv }

// Wait returns once the member has left: its ctx is done and its key
// deleted (or the deletion failed, and the TTL will remove it).
func (m *Member) Wait() { <-m.done }

// ErrInterval is returned by Join when heartbeats would come too seldom
// for the bucket's TTL to keep the peer listed between them.
var ErrInterval = errors.New("peers: heartbeat interval too long for the bucket's TTL")

// Join announces self in kv and keeps announcing it every interval until
// ctx is done. The first heartbeat is written before Join returns, so the
// process lists itself from then on, and its failure (the bucket missing,
// no permission) is Join's error. Later failures are logged and retried
// on the next tick; the bucket's TTL must span at least two intervals.
// now stamps the heartbeats.
func Join(ctx context.Context, kv jetstream.KeyValue, self Peer, every time.Duration, now func() time.Time, log *slog.Logger) (*Member, error) {
	if self.ID == "" {
		return nil, errors.New("peers: a peer needs an id")
	}
	if self.Name == "" {
		self.Name = self.ID
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("peers: bucket %s: %w", kv.Bucket(), err)
	}
	if every <= 0 || st.TTL() <= 0 || 2*every > st.TTL() {
		return nil, fmt.Errorf("%w: every %v, TTL %v", ErrInterval, every, st.TTL())
	}
	m := &Member{self: self, kv: kv, done: make(chan struct{})}
	if err := m.beat(ctx, kv, now()); err != nil {
		return nil, err
	}
	go m.run(ctx, kv, every, st.TTL()-every, now, log)
	return m, nil
}

// run heartbeats until ctx is done, then leaves.
// A heartbeat may take until the previous one would expire (patience):
// on a loaded server an acknowledgement can take longer than the interval,
// and a heartbeat given up early is a peer dropped while alive.
func (m *Member) run(ctx context.Context, kv jetstream.KeyValue, every, patience time.Duration, now func() time.Time, log *slog.Logger) {
	defer close(m.done)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			// ctx is done: leaving gets a short time of its own.
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			if err := kv.Delete(lctx, m.self.ID); err != nil {
				log.Warn("leaving the peers list failed; the TTL will", "peer", m.self.ID, "err", err)
			}
			cancel()
			return
		case <-tick.C:
			bctx, cancel := context.WithTimeout(ctx, patience)
			if err := m.beat(bctx, kv, now()); err != nil && ctx.Err() == nil {
				log.Warn("peer heartbeat failed", "peer", m.self.ID, "err", err)
			}
			cancel()
		}
	}
}

func (m *Member) beat(ctx context.Context, kv jetstream.KeyValue, at time.Time) error {
	p := m.self
	p.Heartbeat = at.UTC()
	value, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("peers: encode: %w", err)
	}
	if _, err := kv.Put(ctx, p.ID, value); err != nil {
		return fmt.Errorf("peers: heartbeat to bucket %s: %w", kv.Bucket(), err)
	}
	return nil
}

// List returns the live peers, ordered by name. A value that is not a
// peer (not written by Join) is skipped.
//
// The keys come from the stream's subjects, one server-side snapshot, and
// each value from a read of the key: a watch's initial values can miss a
// key whose heartbeat replaces its value while the watch starts (every
// key here is rewritten every second), which dropped live peers.
func List(ctx context.Context, js jetstream.JetStream, kv jetstream.KeyValue) ([]Peer, error) {
	stream, err := js.Stream(ctx, "KV_"+kv.Bucket())
	if err != nil {
		return nil, fmt.Errorf("peers: list bucket %s: %w", kv.Bucket(), err)
	}
	prefix := "$KV." + kv.Bucket() + "."
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(prefix+">"))
	if err != nil {
		return nil, fmt.Errorf("peers: list bucket %s: %w", kv.Bucket(), err)
	}
	var out []Peer
	for subject := range info.State.Subjects {
		key := strings.TrimPrefix(subject, prefix)
		e, err := kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
			continue // left, or expired, meanwhile
		case err != nil:
			return nil, fmt.Errorf("peers: list bucket %s: %w", kv.Bucket(), err)
		}
		var p Peer
		if json.Unmarshal(e.Value(), &p) != nil || p.ID != e.Key() {
			continue
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Peer) int { return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID)) })
	return out, nil
}

// LiveReplicas returns the ids of the peers in list that run stage,
// sorted.
func LiveReplicas(list []Peer, stage string) []string {
	var ids []string
	for _, p := range list {
		if slices.Contains(p.Stages, stage) {
			ids = append(ids, p.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// Missing returns the stages of want that no peer in list runs.
func Missing(list []Peer, want []string) []string {
	var missing []string
	for _, s := range want {
		if len(LiveReplicas(list, s)) == 0 {
			missing = append(missing, s)
		}
	}
	return missing
}
