package grouper

import (
	"slices"
	"strings"
	"time"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/nflog"
)

// Group is the state of one aggregation group, held in memory by its
// partition's owner and written behind to KV klaxon-groups (partition.go).
//
// Timing follows Alertmanager: the first flush comes group_wait after the
// group was created (at once if its first alert's startsAt+group_wait has
// already passed); later flushes lie on a grid of group_interval anchored at
// the first flush. Alertmanager's group ticks on every grid point and its
// notification log decides whether a tick notifies; a Klaxon group is woken
// only on the grid points where a notification can be due:
//
//   - the next one after a change (Dirty);
//   - every one while the last flush left alerts muted (Muted), since a
//     silence that expires, an inhibiting alert that resolves or a time
//     interval that ends unmutes them at the next tick;
//   - the first one after the repeat interval has passed since the last
//     notification, which the group knows from the same rules the
//     notifier's log applies (Notified, pkg/nflog).
//
// An idle group costs nothing between these.
type Group struct {
	// Group is the part others read (the API): route and alerts.
	contract.Group

	CreatedAt time.Time `json:"createdAt"`
	// Anchor is the time of the first flush: the group_interval grid's origin.
	Anchor   time.Time `json:"anchor,omitzero"`
	FlushSeq uint64    `json:"flushSeq"`
	// Gen counts the alert changes folded in; a flush remembers the Gen it
	// saw, so a change that arrives during a flush keeps the group dirty.
	Gen uint64 `json:"gen"`
	// Dirty is set when alerts changed since the last flush.
	Dirty bool `json:"dirty"`
	// Muted is set when the last flush left alerts out.
	Muted bool `json:"muted,omitempty"`
	// Notified is the notification log's state of the group's last
	// notification, one per kind of integration of the receiver (those that
	// send resolved alerts and those that do not).
	Notified []Notified `json:"notified,omitempty"`
	// NextFlush is the pending tick; zero when nothing is due.
	NextFlush time.Time `json:"nextFlush,omitzero"`
	// Split is set once the group outgrew one stored value: its alerts
	// and notification state are stored under keys of their own
	// (groupPartition.Owed). Not stored: a load derives it from those keys
	// (a split group always has its notification state key).
	Split bool `json:"-"`
}

// splitKeys are the keys, besides its state's, of a split group with the
// alerts fps; none for a group stored as one value.
func (g *Group) splitKeys(fps map[string]struct{}) []string {
	if !g.Split {
		return nil
	}
	keys := make([]string, 0, len(fps)+1)
	for fp := range fps {
		keys = append(keys, g.ID+"."+fp)
	}
	return append(keys, g.ID+"."+contract.GroupNotifiedKey)
}

// Notified is the log state of the last notification of a group to the
// integrations whose send_resolved is SendResolved.
type Notified struct {
	SendResolved bool `json:"sendResolved"`
	nflog.State
}

// NewGroup starts an empty group for a route.
func NewGroup(r contract.Route, now time.Time) *Group {
	return &Group{Group: contract.Group{ID: contract.GroupID(r.ID, r.GroupKey), Route: r, Alerts: map[string]*alert.Alert{}}, CreatedAt: now}
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
	g.Alerts[fp] = &a
	g.Gen++
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

// Latest looks up the newest state of an alert (dedup's state), if known.
type Latest func(fp string) (alert.Alert, bool)

// Refresh replaces the group's copies of its alerts with newer states:
// re-sends that changed nothing observable (a later endsAt, an earlier
// startsAt) reach the group only this way, and a flush must judge every
// alert by its latest endsAt. A refresh is not a change: it wakes nothing.
func (g *Group) Refresh(latest Latest) {
	if latest == nil {
		return
	}
	for fp, a := range g.Alerts {
		if cur, ok := latest(fp); ok && cur.UpdatedAt.After(a.UpdatedAt) {
			g.Alerts[fp] = &cur
		}
	}
}

// Due reports whether a tick scheduled for at should flush the group now;
// an earlier tick is stale (its schedule was replaced by a later one).
func (g *Group) Due(at time.Time) bool {
	return !g.NextFlush.IsZero() && !at.Before(g.NextFlush)
}

// Flush is one flush's content: the alerts as they stood, in Alertmanager's
// order (alert.Compare), and the flush's sequence number; the grouper adds
// what muting and the log rules made of it.
type Flush struct {
	Seq    uint64
	At     time.Time // the scheduled time: the grid point
	Alerts []alert.Alert
	// Fingerprints parallels Alerts.
	Fingerprints []string
	// Gen is the group's change count the flush saw.
	Gen uint64
	// Muted is set when muting left some of the alerts out.
	Muted bool
	// Notified are the log states of the kinds of integration the flush
	// notifies (Notify).
	Notified []Notified
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
	slices.SortFunc(fps, func(a, b string) int {
		if c := alert.Compare(*g.Alerts[a], *g.Alerts[b]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	f := Flush{Seq: g.FlushSeq + 1, At: at, Fingerprints: fps, Gen: g.Gen}
	for _, fp := range fps {
		f.Alerts = append(f.Alerts, *g.Alerts[fp])
	}
	return f
}

// Notify applies the notification log's rules (nflog.Decide) to the alerts a
// flush at `at` would notify (muted ones left out), for each kind of
// integration of the receiver (its send_resolved values), and returns the
// new log states of those that notify. None means the notifier would send
// nothing.
func (g *Group) Notify(alerts []alert.Alert, sendResolved []bool, at time.Time) []Notified {
	firing, resolved := nflog.Partition(alerts, at)
	var out []Notified
	for _, sr := range sendResolved {
		var last *nflog.State
		if i := slices.IndexFunc(g.Notified, func(n Notified) bool { return n.SendResolved == sr }); i >= 0 {
			last = &g.Notified[i].State
		}
		if send, _ := nflog.Decide(last, firing, resolved, sr, time.Duration(g.Route.RepeatInterval), at); send {
			out = append(out, Notified{SendResolved: sr, State: nflog.NewState(firing, resolved, at)})
		}
	}
	return out
}

// AfterFlush records that f was published at now. Resolved alerts that f
// carried as resolved and that are still resolved leave the group; changes
// that arrived meanwhile keep it dirty. It reports false when the group is
// empty and should be deleted. Applying the same flush twice changes nothing
// the second time.
func (g *Group) AfterFlush(f Flush, now time.Time) (keep bool) {
	if g.FlushSeq >= f.Seq {
		return len(g.Alerts) > 0
	}
	g.FlushSeq = f.Seq
	if g.Anchor.IsZero() {
		g.Anchor = f.At
	}
	g.Dirty = g.Gen != f.Gen
	g.Muted = f.Muted
	for _, n := range f.Notified {
		if i := slices.IndexFunc(g.Notified, func(m Notified) bool { return m.SendResolved == n.SendResolved }); i >= 0 {
			g.Notified[i] = n
		} else {
			g.Notified = append(g.Notified, n)
		}
	}
	for i, fp := range f.Fingerprints {
		if cur, ok := g.Alerts[fp]; ok && f.Alerts[i].ResolvedAt(now) && cur.ResolvedAt(now) {
			delete(g.Alerts, fp)
		}
	}
	g.NextFlush = g.next(now)
	return len(g.Alerts) > 0
}

// next is the next tick after a flush at now: the next grid point when
// something changed meanwhile or alerts were muted; otherwise the first grid
// point at which a firing alert's endsAt has passed or a repeat can be due;
// none for an empty group or one with nothing to resolve or repeat.
//
// The endsAt point is Alertmanager's: its flush, every group_interval,
// judges each alert by its endsAt then. Dedup's resolved change for the
// alert arrives too, but a moment after its endsAt, possibly after the grid
// point; waiting for it would delay the resolution by a whole interval. A
// re-send may have moved the endsAt meanwhile: the flush then refreshes the
// alert, finds nothing new and publishes nothing.
func (g *Group) next(now time.Time) time.Time {
	switch {
	case len(g.Alerts) == 0:
		return time.Time{}
	case g.Dirty, g.Muted:
		return g.gridAfter(now)
	}
	var next time.Time
	for _, n := range g.Notified {
		if len(n.Firing) > 0 {
			// nflog.Decide repeats once strictly more than the interval passed.
			next = earliest(next, g.gridAfter(n.Timestamp.Add(time.Duration(g.Route.RepeatInterval))))
		}
	}
	for _, a := range g.Alerts {
		if !a.EndsAt.IsZero() && !a.ResolvedAt(now) {
			next = earliest(next, g.gridAtOrAfter(a.EndsAt))
		}
	}
	return next
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
