package route

import (
	"sync"

	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
)

// Routes is the routing decision for an alert's labels: one contract.Route
// per matched node, in Alertmanager's order, with its receiver, group key
// and timings. The router stage publishes it.
func (t *Tree) Routes(labels model.LabelSet) []contract.Route { return t.routes(labels, true) }

// Matched is Routes without the group: each route's id, receiver, timing
// and time intervals, but no group labels or key (a map and a string per
// alert and route). It is what the API's alert listing and the
// alertmanager_alerts gauge read, for every alert at every scrape.
func (t *Tree) Matched(labels model.LabelSet) []contract.Route { return t.routes(labels, false) }

func (t *Tree) routes(labels model.LabelSet, group bool) []contract.Route {
	nodes := t.Match(labels)
	routes := make([]contract.Route, 0, len(nodes))
	for _, n := range nodes {
		r := contract.Route{
			ID:                  n.ID,
			Receiver:            n.Receiver,
			GroupWait:           model.Duration(n.GroupWait),
			GroupInterval:       model.Duration(n.GroupInterval),
			RepeatInterval:      model.Duration(n.RepeatInterval),
			MuteTimeIntervals:   n.MuteTimeIntervals,
			ActiveTimeIntervals: n.ActiveTimeIntervals,
		}
		if group {
			r.GroupLabels = n.GroupLabels(labels)
			r.GroupKey = n.GroupKey(r.GroupLabels)
		}
		routes = append(routes, r)
	}
	return routes
}

// Memo keeps the tree of the last config asked for, so that a tree is built
// once per config revision, not per alert. It is safe for concurrent use.
type Memo struct {
	mu   sync.Mutex
	cfg  *config.Config
	tree *Tree
}

// Tree returns the route tree of cfg.
func (m *Memo) Tree(cfg *config.Config) (*Tree, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cfg != cfg {
		t, err := New(cfg.Route)
		if err != nil {
			return nil, err
		}
		m.cfg, m.tree = cfg, t
	}
	return m.tree, nil
}
