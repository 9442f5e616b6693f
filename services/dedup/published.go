package dedup

import "sync"

// published remembers the ids of the outbox messages this process has
// published (the most recent ones, up to a bound), so that the next
// mutation of an alert does not publish its record's outbox again: after a
// restart, or for a record another replica wrote, the outbox is published
// once more and JetStream drops the duplicates by id, as before.
type published struct {
	mu    sync.Mutex
	ids   map[string]struct{}
	order []string // insertion order, for eviction
	next  int
}

func newPublished(capacity int) *published {
	return &published{ids: make(map[string]struct{}, capacity), order: make([]string, capacity)}
}

func (p *published) has(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.ids[id]
	return ok
}

func (p *published) add(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.ids[id]; ok {
		return
	}
	if old := p.order[p.next]; old != "" {
		delete(p.ids, old)
	}
	p.order[p.next] = id
	p.ids[id] = struct{}{}
	p.next = (p.next + 1) % len(p.order)
}
