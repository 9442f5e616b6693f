package route

import (
	"sync"

	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
)

// Routes is the routing decision for an alert's labels: one contract.Route
// per matched node, in Alertmanager's order, with its receiver, group key
// and timings. The router stage publishes it; the API shows its receivers.
func (t *Tree) Routes(labels model.LabelSet) []contract.Route {
	nodes := t.Match(labels)
	routes := make([]contract.Route, 0, len(nodes))
	for _, n := range nodes {
		gl := n.GroupLabels(labels)
		routes = append(routes, contract.Route{
			ID:                  n.ID,
			Receiver:            n.Receiver,
			GroupKey:            n.GroupKey(gl),
			GroupLabels:         gl,
			GroupWait:           model.Duration(n.GroupWait),
			GroupInterval:       model.Duration(n.GroupInterval),
			RepeatInterval:      model.Duration(n.RepeatInterval),
			MuteTimeIntervals:   n.MuteTimeIntervals,
			ActiveTimeIntervals: n.ActiveTimeIntervals,
		})
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
