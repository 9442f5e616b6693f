// Package route is Alertmanager's routing tree: it decides which routes an
// alert belongs to, with which receiver, grouping and timings, and computes
// route keys, route IDs and group keys in Alertmanager's exact format (group
// keys appear in webhook payloads and the notification log). It is pure Go
// over pkg/config's Route: no transport, no clock.
package route

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/matcher"
)

// Tree is a routing tree built from a configuration's root route.
type Tree struct {
	Root *Node
	byID map[string]*Node
}

// Node is one route with its settings resolved: what it does not set itself
// is inherited from its parent, and the root's defaults are Alertmanager's
// (group_wait 30s, group_interval 5m, repeat_interval 4h, no grouping).
type Node struct {
	// ID is Alertmanager's route ID: the Key plus, below the root, the
	// route's index among its siblings ("{}/{team=\"db\"}/0").
	ID string
	// Key is Alertmanager's route key: the matchers of the route and its
	// ancestors, from the root down ("{}/{team=\"db\"}"). It prefixes the
	// group key.
	Key string

	Matchers   matcher.Matchers
	Receiver   string
	GroupBy    map[model.LabelName]struct{}
	GroupByAll bool

	GroupWait, GroupInterval, RepeatInterval time.Duration

	Continue bool
	// MuteTimeIntervals and ActiveTimeIntervals are the route's own (not
	// inherited, as in Alertmanager).
	MuteTimeIntervals, ActiveTimeIntervals []string

	Parent *Node
	Routes []*Node
}

// New builds the tree for the root route r (normally cfg.Route of a
// configuration that config.Parse validated).
func New(r *config.Route) (*Tree, error) {
	if r == nil {
		return nil, errors.New("route tree: no root route")
	}
	t := &Tree{byID: map[string]*Node{}}
	root, err := newNode(r, nil, 0)
	if err != nil {
		return nil, err
	}
	t.Root = root
	t.Walk(func(n *Node) {
		if _, dup := t.byID[n.ID]; !dup {
			t.byID[n.ID] = n
		}
	})
	return t, nil
}

func newNode(r *config.Route, parent *Node, index int) (*Node, error) {
	n := &Node{
		Parent:              parent,
		GroupBy:             map[model.LabelName]struct{}{},
		GroupWait:           config.DefaultGroupWait,
		GroupInterval:       config.DefaultGroupInterval,
		RepeatInterval:      config.DefaultRepeatInterval,
		Continue:            r.Continue,
		MuteTimeIntervals:   r.MuteTimeIntervals,
		ActiveTimeIntervals: r.ActiveTimeIntervals,
		Matchers:            r.AllMatchers(),
	}
	if parent != nil {
		n.Receiver = parent.Receiver
		n.GroupBy = parent.GroupBy
		n.GroupByAll = parent.GroupByAll
		n.GroupWait, n.GroupInterval, n.RepeatInterval = parent.GroupWait, parent.GroupInterval, parent.RepeatInterval
	}
	if r.Receiver != "" {
		n.Receiver = r.Receiver
	}
	switch {
	case r.GroupBy != nil: // an explicit list, possibly empty, replaces the parent's
		n.GroupBy = make(map[model.LabelName]struct{}, len(r.GroupBy))
		for _, l := range r.GroupBy {
			n.GroupBy[l] = struct{}{}
		}
		n.GroupByAll = false
	case r.GroupByAll:
		n.GroupByAll = true
	}
	if r.GroupWait != nil {
		n.GroupWait = time.Duration(*r.GroupWait)
	}
	if r.GroupInterval != nil {
		n.GroupInterval = time.Duration(*r.GroupInterval)
	}
	if r.RepeatInterval != nil {
		n.RepeatInterval = time.Duration(*r.RepeatInterval)
	}
	n.Key = n.Matchers.String()
	n.ID = n.Key
	if parent != nil {
		n.Key = parent.Key + "/" + n.Key
		n.ID = n.Key + "/" + strconv.Itoa(index)
	}
	for i, c := range r.Routes {
		if c == nil {
			return nil, fmt.Errorf("route %s: child %d is empty", n.ID, i)
		}
		child, err := newNode(c, n, i)
		if err != nil {
			return nil, err
		}
		n.Routes = append(n.Routes, child)
	}
	return n, nil
}

// Match returns the routes the label set belongs to, as Alertmanager
// decides: depth first; among siblings the first that matches ends the
// search unless it has continue; a route whose children do not match is
// itself the match. The root always matches (it has no matchers), so the
// result is never empty for a tree built from a valid configuration.
func (t *Tree) Match(ls model.LabelSet) []*Node { return t.Root.Match(ls) }

// Match is Tree.Match from this node down; nil when the node does not match.
func (n *Node) Match(ls model.LabelSet) []*Node {
	if !n.Matchers.Matches(ls) {
		return nil
	}
	var all []*Node
	for _, c := range n.Routes {
		m := c.Match(ls)
		all = append(all, m...)
		if m != nil && !c.Continue {
			break
		}
	}
	if len(all) == 0 {
		all = append(all, n)
	}
	return all
}

// Walk visits every node depth first, parents before children.
func (t *Tree) Walk(visit func(*Node)) { t.Root.Walk(visit) }

// Walk visits the node and its descendants depth first.
func (n *Node) Walk(visit func(*Node)) {
	visit(n)
	for _, c := range n.Routes {
		c.Walk(visit)
	}
}

// ByID returns the node with Alertmanager's route ID id, or nil. Alertmanager's
// IDs are not guaranteed unique (two subtrees with equal matchers at equal
// positions share them); then the first node in depth-first order is returned.
func (t *Tree) ByID(id string) *Node { return t.byID[id] }

// GroupLabels returns the labels of ls that the node groups by (all of them
// with group_by: ['...']).
func (n *Node) GroupLabels(ls model.LabelSet) model.LabelSet {
	out := model.LabelSet{}
	for l, v := range ls {
		if _, ok := n.GroupBy[l]; ok || n.GroupByAll {
			out[l] = v
		}
	}
	return out
}

// GroupKey returns the aggregation group's key in Alertmanager's format,
// route key and group labels: `{}/{team="db"}:{alertname="Foo"}`.
func (n *Node) GroupKey(groupLabels model.LabelSet) string {
	return n.Key + ":" + groupLabels.String()
}
