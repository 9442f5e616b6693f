package alert

import (
	"hash/maphash"
	"maps"
	"sync"

	"github.com/prometheus/common/model"
)

// A Pool lets the holders of one alert in a process — dedup's state, the
// grouper's groups, the watched copy of klaxon-alerts — hold one copy of its
// label set and annotations instead of one each: with every stage in one
// process, these copies were most of Klaxon's heap at a million alerts.
//
// An alert's labels are fixed by its fingerprint, so they are shared for as
// long as the pool knows the fingerprint; its annotations are shared while
// they are equal. What the pool hands out is shared: never change it. The
// pool forgets a fingerprint when the alert is gone (Forget, called by the
// watched copy when dedup deletes it); an alert still held then keeps its
// maps, unshared. A nil *Pool shares nothing.
type Pool struct {
	seed   maphash.Seed
	shards [poolShards]poolShard
}

// poolShards spreads the stages' partitions over locks.
const poolShards = 16

type poolShard struct {
	mu sync.Mutex
	m  map[string]pooled
}

type pooled struct{ labels, annotations model.LabelSet }

// NewPool returns an empty pool.
func NewPool() *Pool {
	p := &Pool{seed: maphash.MakeSeed()}
	for i := range p.shards {
		p.shards[i].m = map[string]pooled{}
	}
	return p
}

func (p *Pool) shard(fp string) *poolShard {
	return &p.shards[maphash.String(p.seed, fp)%poolShards]
}

// Share makes a's label set and annotations the pool's equal ones for
// fingerprint fp; what the pool has not got, or holds unequal, becomes a's.
func (p *Pool) Share(fp string, a *Alert) {
	if p == nil || a.Labels == nil {
		return
	}
	s := p.shard(fp)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[fp]
	if ok && maps.Equal(e.labels, a.Labels) {
		a.Labels = e.labels
	} else {
		e.labels = a.Labels
	}
	if ok && maps.Equal(e.annotations, a.Annotations) && (e.annotations == nil) == (a.Annotations == nil) {
		a.Annotations = e.annotations
	} else {
		e.annotations = a.Annotations
	}
	s.m[fp] = e
}

// Forget drops fingerprint fp: the alert is gone.
func (p *Pool) Forget(fp string) {
	if p == nil {
		return
	}
	s := p.shard(fp)
	s.mu.Lock()
	delete(s.m, fp)
	s.mu.Unlock()
}

// Len is the number of fingerprints the pool knows.
func (p *Pool) Len() int {
	if p == nil {
		return 0
	}
	n := 0
	for i := range p.shards {
		s := &p.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}
