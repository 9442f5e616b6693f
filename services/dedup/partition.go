package dedup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/fault"
	"github.com/klaxon-alerts/klaxon/pkg/partition"
)

// alertPartition is the state of one input partition while this replica owns it
// (pkg/lease, run by pkg/partition): the alerts by fingerprint, in memory,
// and their expiry timers. A step changes the memory and owes the
// AlertChanged events and the alerts' new values for KV klaxon-alerts; a
// checkpoint stores them before the inputs are acknowledged. Merging an
// alert again gives the same state and the same change ids.
type alertPartition struct {
	d      *Dedup
	p      int
	alerts map[string]*alert.Stored
	timers partition.Timers

	// Owed since the last checkpoint.
	dirty  map[string]struct{} // alerts whose KV value is to be written
	outbox []*nats.Msg         // events to publish

	// Deferred: alerts whose endsAt moved later and nothing else (what
	// every Prometheus re-send does). Their stored value stays right until
	// its end is near, so it is written only then (writeAhead before it), at a
	// sync marker, at a hand-back, or with a change that is written at once.
	deferred map[string]time.Time // fingerprint → when it must be written
	writes   partition.Timers     // the deferred writes' deadlines
}

// writeAhead is how long before a stored endsAt passes a deferred value
// must be written: far more than a checkpoint takes, so that whoever reads
// the stored value (the grouper's flush, a new owner) never finds an alert
// resolved that was refreshed.
const writeAhead = 30 * time.Second

// Handle applies one input message: one alert or an array of them. Invalid
// alerts are dead-lettered one by one (the whole message when nothing in it
// decodes); the valid ones are applied.
func (pt *alertPartition) Handle(_ context.Context, msg jetstream.Msg) {
	if msg.Headers().Get(contract.HeaderSync) != "" {
		pt.OweDeferred()
		return
	}
	postables, err := alert.DecodePostable(msg.Data())
	if err != nil {
		pt.d.metrics.invalid.Inc()
		pt.deadLetter(msg, msg.Data(), err)
		return
	}
	receivedAt := receivedAt(msg, pt.d.opts.Now)
	resolveTimeout := time.Duration(pt.d.opts.Config().Global.ResolveTimeout)
	limit := alert.SizeLimit(pt.d.opts.JS.Conn().MaxPayload())
	for i, p := range postables {
		fp := p.Fingerprint().String()
		cur := pt.alerts[fp]
		var like *alert.Alert
		if cur != nil {
			like = &cur.Alert
		}
		a, err := p.NormalizeLike(receivedAt, resolveTimeout, like)
		if err == nil && len(msg.Data()) > limit {
			err = checkSize(a, limit) // only a large message can hold a large alert
		}
		if err != nil {
			pt.d.metrics.invalid.Inc()
			payload, _ := json.Marshal(p)
			pt.deadLetter(msg, payload, fmt.Errorf("alert %d %s: %w", i, alert.Describe(p.Labels), err))
			continue
		}
		next, ch := alert.Apply(cur, a, pt.d.opts.Now())
		pt.commit(fp, cur, next, ch)
	}
}

// Fire runs the expiry step of every alert whose timer is due: resolve an
// alert whose end passed without a refresh, re-arm the timer of one
// refreshed meanwhile, forget one resolved longer than the retention.
func (pt *alertPartition) Fire(context.Context, time.Time) {
	now := pt.d.opts.Now()
	for {
		t, ok := pt.writes.Due(now)
		if !ok {
			break
		}
		if by, ok := pt.deferred[t.Key]; ok && by.Equal(t.At) {
			pt.owe(t.Key)
		}
	}
	for {
		t, ok := pt.timers.Due(now)
		if !ok {
			return
		}
		cur, ok := pt.alerts[t.Key]
		if !ok || !cur.ExpiryAt.Equal(t.At) {
			continue // replaced by a later timer, or forgotten
		}
		if alert.Forgotten(*cur, now, pt.d.opts.Retention) {
			pt.commit(t.Key, cur, alert.Stored{}, alert.ChangeNone)
			continue
		}
		next := *cur
		next.ExpiryAt = time.Time{} // this timer has fired
		next, ch := alert.Expire(next, now)
		pt.commit(t.Key, cur, next, ch)
	}
}

// commit makes next the state of fp and owes what the step requires: the
// change event, the KV value, and the expiry timer. A step that changes
// nothing but the time of receipt owes nothing.
func (pt *alertPartition) commit(fp string, prev *alert.Stored, next alert.Stored, ch alert.Change) {
	now := pt.d.opts.Now()
	defer pt.count(ch)
	if next.Labels == nil {
		if prev != nil {
			delete(pt.alerts, fp)
			pt.dirty[fp] = struct{}{}
		}
		return
	}
	if at, arm := alert.NextExpiry(next, now, pt.d.opts.Retention); arm {
		next.ExpiryAt = at
		pt.timers.Add(at, fp)
	}
	if ch != alert.ChangeNone {
		msg, err := changeMessage(prev, next.Alert, ch, fp)
		if err != nil {
			pt.d.log.Error("change not encodable; dropped", "fingerprint", fp, "err", err)
		} else {
			pt.outbox = append(pt.outbox, msg)
		}
	}
	if ch == alert.ChangeNone && prev != nil && sameState(*prev, next) {
		prev.UpdatedAt = next.UpdatedAt // kept in memory only
		return
	}
	if prev == nil || !maps.Equal(prev.Annotations, next.Annotations) {
		// NormalizeLike kept the stored alert's maps (the pool's) where
		// they were equal: only a new alert or new annotations go to the
		// pool, not every re-send that moves endsAt.
		pt.d.opts.Pool.Share(fp, &next.Alert)
	}
	pt.alerts[fp] = &next
	if ch == alert.ChangeNone && prev != nil && pt.deferWrite(fp, *prev, next, now) {
		return
	}
	pt.owe(fp)
}

// deferWrite defers writing next when it differs from prev only in a later
// end, and the value stored (prev when nothing is owed or deferred for fp)
// stays right long enough.
func (pt *alertPartition) deferWrite(fp string, prev, next alert.Stored, now time.Time) bool {
	moved := prev
	moved.EndsAt, moved.ExpiryAt, moved.UpdatedAt = next.EndsAt, next.ExpiryAt, next.UpdatedAt
	if next.EndsAt.Before(prev.EndsAt) || !sameState(moved, next) {
		return false
	}
	if _, ok := pt.deferred[fp]; ok {
		return true // the stored value is right until its deadline
	}
	if _, ok := pt.dirty[fp]; ok {
		return false
	}
	by := prev.EndsAt.Add(-writeAhead)
	if !by.After(now) {
		return false
	}
	pt.deferred[fp] = by
	pt.writes.Add(by, fp)
	return true
}

// owe makes fp's value owed at the next checkpoint.
func (pt *alertPartition) owe(fp string) {
	delete(pt.deferred, fp)
	pt.dirty[fp] = struct{}{}
}

// OweDeferred makes every deferred value owed (a sync marker, a hand-back:
// partition.Deferrer).
func (pt *alertPartition) OweDeferred() {
	for fp := range pt.deferred {
		pt.owe(fp)
	}
}

func (pt *alertPartition) count(ch alert.Change) {
	label := string(ch)
	if ch == alert.ChangeNone {
		label = "none"
	}
	pt.d.metrics.changes.WithLabelValues(label).Inc()
}

// sameState reports whether two states differ in nothing but the time of
// receipt.
func sameState(a, b alert.Stored) bool {
	return a.Emitted == b.Emitted && a.ExpiryAt.Equal(b.ExpiryAt) && a.Timeout == b.Timeout &&
		a.StartsAt.Equal(b.StartsAt) && a.EndsAt.Equal(b.EndsAt) && a.GeneratorURL == b.GeneratorURL &&
		maps.Equal(a.Labels, b.Labels) && maps.Equal(a.Annotations, b.Annotations)
}

// Owed returns the change events and dead letters, then the alerts'
// values: a value is written only once its event is stored. The other way
// round, a checkpoint that stored a value but not its event (a stream
// leader lost mid-write) left a new owner with a state that says the event
// was emitted: it re-applied the input, found nothing to change, and the
// alert was never routed.
func (pt *alertPartition) Owed() [][]*nats.Msg {
	writes := make([]*nats.Msg, 0, len(pt.dirty))
	for fp := range pt.dirty {
		if s, ok := pt.alerts[fp]; ok {
			data, _ := json.Marshal(s) // a Stored always encodes
			writes = append(writes, partition.KVPut(contract.BucketAlerts, fp, data))
		} else {
			writes = append(writes, partition.KVDelete(contract.BucketAlerts, fp))
		}
	}
	return [][]*nats.Msg{pt.outbox, writes}
}

// Committed forgets what was owed.
func (pt *alertPartition) Committed() {
	pt.outbox = pt.outbox[:0]
	clear(pt.dirty)
}

// Next is when the earliest expiry timer or deferred write is due.
func (pt *alertPartition) Next() time.Time {
	next, write := pt.timers.Next(), pt.writes.Next()
	if next.IsZero() || (!write.IsZero() && write.Before(next)) {
		return write
	}
	return next
}

// deadLetter sends a part of an input message that can never be processed
// to the dead-letter subject; the input itself is acknowledged with the
// rest.
func (pt *alertPartition) deadLetter(in jetstream.Msg, payload []byte, reason error) {
	m, err := partition.DeadLetter(contract.StageDedup, in, payload, reason, pt.d.opts.Now())
	if err != nil {
		pt.d.log.Error("dead letter not encodable; dropped", "err", err)
		return
	}
	pt.outbox = append(pt.outbox, m)
	pt.d.log.Warn("alert dead-lettered", "partition", pt.p, "reason", reason)
}

// changeMessage is the AlertChanged for a step; its id hashes the state
// before and after, so the same step always has the same id.
func changeMessage(prev *alert.Stored, next alert.Alert, ch alert.Change, fp string) (*nats.Msg, error) {
	body, err := json.Marshal(contract.AlertChanged{Version: contract.Version, Change: ch, Fingerprint: fp, Alert: next})
	if err != nil {
		return nil, fault.Final(err)
	}
	before, _ := json.Marshal(prev)
	sum := sha256.Sum256(append(before, body...))
	m := nats.NewMsg(contract.SubjectAlertsChanged)
	m.Data = body
	m.Header.Set(jetstream.MsgIDHeader, "chg-"+fp+"-"+hex.EncodeToString(sum[:12]))
	return m, nil
}
