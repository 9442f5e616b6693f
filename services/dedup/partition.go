package dedup

import (
	"container/heap"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/bus"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/fault"
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
	timers expiries

	// Owed since the last checkpoint.
	dirty  map[string]struct{} // alerts whose KV value is to be written
	outbox []*nats.Msg         // events to publish
}

// Handle applies one input message: one alert or an array of them. Invalid
// alerts are dead-lettered one by one (the whole message when nothing in it
// decodes); the valid ones are applied.
func (pt *alertPartition) Handle(_ context.Context, msg jetstream.Msg) {
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
		a, err := p.Normalize(receivedAt, resolveTimeout)
		if err == nil && len(msg.Data()) > limit {
			err = checkSize(a, limit) // only a large message can hold a large alert
		}
		if err != nil {
			pt.d.metrics.invalid.Inc()
			payload, _ := json.Marshal(p)
			pt.deadLetter(msg, payload, fmt.Errorf("alert %d %s: %w", i, alert.Describe(p.Labels), err))
			continue
		}
		fp := a.Fingerprint().String()
		cur := pt.alerts[fp]
		next, ch := alert.Apply(cur, a, pt.d.opts.Now())
		pt.commit(fp, cur, next, ch)
	}
}

// Fire runs the expiry step of every alert whose timer is due: resolve an
// alert whose end passed without a refresh, re-arm the timer of one
// refreshed meanwhile, forget one resolved longer than the retention.
func (pt *alertPartition) Fire(context.Context, time.Time) {
	now := pt.d.opts.Now()
	for len(pt.timers) > 0 && !pt.timers[0].at.After(now) {
		t := heap.Pop(&pt.timers).(expiry)
		cur, ok := pt.alerts[t.fp]
		if !ok || !cur.ExpiryAt.Equal(t.at) {
			continue // replaced by a later timer, or forgotten
		}
		if alert.Forgotten(*cur, now, pt.d.opts.Retention) {
			pt.commit(t.fp, cur, alert.Stored{}, alert.ChangeNone)
			continue
		}
		next := *cur
		next.ExpiryAt = time.Time{} // this timer has fired
		next, ch := alert.Expire(next, now)
		pt.commit(t.fp, cur, next, ch)
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
		heap.Push(&pt.timers, expiry{at: at, fp: fp})
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
	pt.alerts[fp] = &next
	pt.dirty[fp] = struct{}{}
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

// Owed returns the change events and dead letters, and the alerts' values.
func (pt *alertPartition) Owed() [][]*nats.Msg {
	writes := make([]*nats.Msg, 0, len(pt.dirty))
	for fp := range pt.dirty {
		m := nats.NewMsg("$KV." + contract.BucketAlerts + "." + fp)
		if s, ok := pt.alerts[fp]; ok {
			m.Data, _ = json.Marshal(s) // a Stored always encodes
		} else {
			m.Header.Set(kvOperation, kvDelete)
		}
		writes = append(writes, m)
	}
	return [][]*nats.Msg{append(pt.outbox, writes...)}
}

// Committed forgets what was owed.
func (pt *alertPartition) Committed() {
	pt.outbox = pt.outbox[:0]
	clear(pt.dirty)
}

// Next is when the earliest expiry timer is due.
func (pt *alertPartition) Next() time.Time {
	if len(pt.timers) == 0 {
		return time.Time{}
	}
	return pt.timers[0].at
}

// The KV headers of a deletion, as the KV client writes it.
const (
	kvOperation = "KV-Operation"
	kvDelete    = "DEL"
)

// deadLetter sends a part of an input message that can never be processed
// to the dead-letter subject; the input itself is acknowledged with the
// rest.
func (pt *alertPartition) deadLetter(in jetstream.Msg, payload []byte, reason error) {
	wm := message.NewMessage("", in.Data())
	wm.Metadata.Set(bus.MetaSubject, in.Subject())
	if md, err := in.Metadata(); err == nil {
		wm.Metadata.Set(bus.MetaStreamSeq, strconv.FormatUint(md.Sequence.Stream, 10))
	}
	for k := range in.Headers() {
		wm.Metadata.Set(k, in.Headers().Get(k))
	}
	out, err := bus.DeadLetter(contract.StageDedup, wm, payload, reason, pt.d.opts.Now())
	if err != nil {
		pt.d.log.Error("dead letter not encodable; dropped", "err", err)
		return
	}
	m := nats.NewMsg(contract.DLQSubject(contract.StageDedup))
	m.Data = out.Payload
	for k, v := range out.Metadata {
		m.Header.Set(k, v)
	}
	m.Header.Set(jetstream.MsgIDHeader, out.Metadata.Get(bus.MetaMsgID))
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

// expiry is a pending alert timer.
type expiry struct {
	at time.Time
	fp string
}

// expiries is a min-heap of timers by time (container/heap).
type expiries []expiry

func (h expiries) Len() int           { return len(h) }
func (h expiries) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h expiries) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiries) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiries) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
