package grouper

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
)

// Group is the durable state of one aggregation group (KV klaxon-groups).
//
// Timing follows Alertmanager: the first flush comes group_wait after the
// group was created (at once if an alert's startsAt+group_wait has already
// passed); later flushes lie on a grid of group_interval anchored at the
// first flush; a repeat comes at the first grid point after repeat_interval.
// Unlike Alertmanager's ticker, a tick is scheduled only when something is
// due, so an idle group costs nothing.
type Group struct {
	ID     string                 `json:"id"`
	Route  contract.Route         `json:"route"`
	Alerts map[string]alert.Alert `json:"alerts"`

	CreatedAt time.Time `json:"createdAt"`
	// Anchor is the time of the first flush: the group_interval grid's origin.
	Anchor time.Time `json:"anchor,omitzero"`
	// RepeatBase is the last flush that carried a change, from which the
	// repeat interval runs.
	RepeatBase time.Time `json:"repeatBase,omitzero"`
	FlushSeq   uint64    `json:"flushSeq"`
	// Dirty is set when alerts changed since the last flush.
	Dirty bool `json:"dirty"`
	// NextFlush is the pending tick; zero when nothing is due.
	NextFlush time.Time `json:"nextFlush,omitzero"`
}

// GroupID is the KV key and timer subject token of a route's group.
func GroupID(routeID, groupKey string) string {
	sum := sha256.Sum256([]byte(routeID + "\x00" + groupKey))
	return hex.EncodeToString(sum[:16])
}

// NewGroup starts an empty group for a route.
func NewGroup(r contract.Route, now time.Time) *Group {
	return &Group{ID: GroupID(r.ID, r.GroupKey), Route: r, Alerts: map[string]alert.Alert{}, CreatedAt: now}
}

func (g *Group) flushed() bool { return g.FlushSeq > 0 }

// Add folds an alert change into the group at now. It reports false, and
// changes nothing, when the group already holds this or a newer state of the
// alert (a redelivered or reordered event).
func (g *Group) Add(fp string, a alert.Alert, r contract.Route, now time.Time) bool {
	if old, ok := g.Alerts[fp]; ok && !a.UpdatedAt.After(old.UpdatedAt) {
		return false
	}
	g.Route = r
	g.Alerts[fp] = a
	g.Dirty = true
	wait := time.Duration(r.GroupWait)
	switch {
	case !g.flushed():
		next := g.CreatedAt.Add(wait)
		if a.StartsAt.Add(wait).Before(now) {
			next = now
		}
		g.NextFlush = earliest(g.NextFlush, next)
	default:
		g.NextFlush = earliest(g.NextFlush, g.gridAtOrAfter(now))
	}
	return true
}

// Due reports whether a tick scheduled for at should flush the group now;
// an earlier tick is stale (its schedule was replaced by a later one).
func (g *Group) Due(at time.Time) bool {
	return !g.NextFlush.IsZero() && !at.Before(g.NextFlush)
}

// Flush is one flush's content: the alerts as they stood, in fingerprint
// order, and the flush's sequence number.
type Flush struct {
	Seq    uint64
	At     time.Time // the scheduled time: the grid point
	Alerts []alert.Alert
	// Fingerprints parallels Alerts.
	Fingerprints []string
	// Changed is true when the flush carries changes since the last one.
	Changed bool
}

// Firing counts the flush's firing alerts at t.
func (f Flush) Firing(t time.Time) int {
	n := 0
	for _, a := range f.Alerts {
		if !a.ResolvedAt(t) {
			n++
		}
	}
	return n
}

// Snapshot takes the flush for the tick at, without changing the group.
func (g *Group) Snapshot(at time.Time) Flush {
	fps := make([]string, 0, len(g.Alerts))
	for fp := range g.Alerts {
		fps = append(fps, fp)
	}
	slices.Sort(fps)
	f := Flush{Seq: g.FlushSeq + 1, At: at, Fingerprints: fps, Changed: g.Dirty}
	for _, fp := range fps {
		f.Alerts = append(f.Alerts, g.Alerts[fp])
	}
	return f
}

// AfterFlush records that f was published at now. Resolved alerts that did
// not change since f leave the group; alerts that changed meanwhile keep it
// dirty. It reports false when the group is empty and should be deleted.
// Applying the same flush twice changes nothing the second time.
func (g *Group) AfterFlush(f Flush, now time.Time) (keep bool) {
	if g.FlushSeq >= f.Seq {
		return len(g.Alerts) > 0
	}
	g.FlushSeq = f.Seq
	if g.Anchor.IsZero() {
		g.Anchor = f.At
	}
	// A flush carrying changes is notified; so is the repeat flush.
	if f.Changed || g.RepeatBase.IsZero() || !f.At.Before(g.RepeatBase.Add(time.Duration(g.Route.RepeatInterval))) {
		g.RepeatBase = f.At
	}
	g.Dirty = false
	for i, fp := range f.Fingerprints {
		sent := f.Alerts[i]
		cur, ok := g.Alerts[fp]
		switch {
		case !ok:
		case !cur.UpdatedAt.Equal(sent.UpdatedAt):
			g.Dirty = true
		case cur.ResolvedAt(now):
			delete(g.Alerts, fp)
		}
	}
	for fp := range g.Alerts {
		if !slices.Contains(f.Fingerprints, fp) {
			g.Dirty = true
		}
	}
	g.NextFlush = g.next(now)
	return len(g.Alerts) > 0
}

// next is the next tick after a flush at now: the next grid point when
// something changed meanwhile; otherwise the first grid point past the
// repeat interval; none for an empty group. (An alert that expires sends a
// resolved change from dedup, which makes the group dirty.)
func (g *Group) next(now time.Time) time.Time {
	switch {
	case len(g.Alerts) == 0:
		return time.Time{}
	case g.Dirty:
		return g.gridAtOrAfter(now)
	}
	return g.gridAfter(g.RepeatBase.Add(time.Duration(g.Route.RepeatInterval)))
}

// gridAtOrAfter is the first point of the group_interval grid at or after t
// (and after the anchor).
func (g *Group) gridAtOrAfter(t time.Time) time.Time {
	interval := time.Duration(g.Route.GroupInterval)
	if interval <= 0 || !t.After(g.Anchor) {
		return g.Anchor.Add(max(interval, 0))
	}
	k := (t.Sub(g.Anchor) + interval - 1) / interval
	return g.Anchor.Add(k * interval)
}

// gridAfter is the first grid point strictly after t.
func (g *Group) gridAfter(t time.Time) time.Time {
	p := g.gridAtOrAfter(t)
	if !p.After(t) {
		p = p.Add(time.Duration(g.Route.GroupInterval))
	}
	return p
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}
