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

// partition is the state of one input partition while this replica owns it
// (pkg/lease): the alerts by fingerprint, in memory, and their expiry timers.
// One goroutine (run) reads the partition's messages in order and is the
// only one to touch it.
//
// The input stream is the log. A step changes the memory and remembers
// what it owes: the AlertChanged events and the alerts' new values for KV
// klaxon-alerts. When no input is waiting (or enough has gathered), a
// checkpoint publishes all of it asynchronously, waits for JetStream's
// acknowledgements, and only then acknowledges the inputs it covers. A
// crash before that leaves the inputs unacknowledged; the next owner loads
// the bucket and takes them again. Merging an alert again gives the same
// state and the same change ids, which JetStream drops as duplicates.
type partition struct {
	d   *Dedup
	p   int
	in  chan jetstream.Msg
	sub jetstream.ConsumeContext

	alerts map[string]*alert.Stored
	timers expiries
	timer  *time.Timer

	// Owed since the last checkpoint.
	dirty   map[string]struct{} // alerts whose KV value is to be written
	outbox  []*nats.Msg         // events to publish
	pending []jetstream.Msg     // inputs to acknowledge
}

// maxPending bounds the inputs of one checkpoint.
const maxPending = 256

// run works on the partition until ctx is done (the lease is lost: write
// nothing more) or stop is closed (handed back: checkpoint first).
func (pt *partition) run(ctx context.Context, stop <-chan struct{}) {
	pt.timer = time.NewTimer(time.Hour)
	defer pt.timer.Stop()
	pt.armTimer()
	for {
		select {
		case <-ctx.Done():
			return
		case <-stop:
			pt.sub.Stop()
			pt.checkpointUntilDone(ctx)
			return
		case msg := <-pt.in:
			pt.handle(ctx, msg)
			// Take in what is already waiting, then write it all at once.
			for len(pt.pending) < maxPending && len(pt.in) > 0 {
				pt.handle(ctx, <-pt.in)
			}
			pt.checkpointUntilDone(ctx)
			pt.armTimer()
		case <-pt.timer.C:
			pt.expireDue()
			pt.checkpointUntilDone(ctx)
			pt.armTimer()
		}
	}
}

// checkpointUntilDone retries a failed checkpoint (NATS unreachable) until it
// succeeds or the partition stops; the inputs wait meanwhile.
func (pt *partition) checkpointUntilDone(ctx context.Context) {
	for delay := 100 * time.Millisecond; ; delay = min(2*delay, 5*time.Second) {
		err := pt.checkpoint()
		if err == nil {
			return
		}
		pt.d.log.Warn("checkpoint failed; retrying", "partition", pt.p, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
}

// handle applies one input message: one alert or an array of them. Invalid
// alerts are dead-lettered one by one (the whole message when nothing in it
// decodes); the valid ones are applied.
func (pt *partition) handle(ctx context.Context, msg jetstream.Msg) {
	pt.pending = append(pt.pending, msg)
	postables, err := alert.DecodePostable(msg.Data())
	if err != nil {
		pt.d.metrics.invalid.Inc()
		pt.deadLetter(ctx, msg, msg.Data(), err)
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
			pt.deadLetter(ctx, msg, payload, fmt.Errorf("alert %d %s: %w", i, alert.Describe(p.Labels), err))
			continue
		}
		fp := a.Fingerprint().String()
		cur := pt.alerts[fp]
		next, ch := alert.Apply(cur, a, pt.d.opts.Now())
		pt.commit(fp, cur, next, ch)
	}
}

// expireDue runs the expiry step of every alert whose timer is due:
// resolve an alert whose end passed without a refresh, re-arm the timer of
// one refreshed meanwhile, forget one resolved longer than the retention.
func (pt *partition) expireDue() {
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
func (pt *partition) commit(fp string, prev *alert.Stored, next alert.Stored, ch alert.Change) {
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

func (pt *partition) count(ch alert.Change) {
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

// checkpoint publishes what is owed, waits for JetStream to store it, then
// acknowledges the inputs. On an error nothing is forgotten: the next
// checkpoint publishes it again (ids make the repeats harmless).
func (pt *partition) checkpoint() error {
	if len(pt.outbox) == 0 && len(pt.dirty) == 0 && len(pt.pending) == 0 {
		return nil
	}
	msgs := pt.outbox
	for fp := range pt.dirty {
		m := nats.NewMsg("$KV." + contract.BucketAlerts + "." + fp)
		if s, ok := pt.alerts[fp]; ok {
			body, err := json.Marshal(s)
			if err != nil {
				return fault.Final(err)
			}
			m.Data = body
		} else {
			m.Header.Set(kvOperation, kvDelete)
		}
		msgs = append(msgs, m)
	}
	if err := pt.d.pub.PublishMsgs(msgs...); err != nil {
		return err
	}
	for _, in := range pt.pending {
		_ = in.Ack() // a lost ack redelivers the input: merged again, harmlessly
	}
	pt.outbox, pt.pending = pt.outbox[:0], pt.pending[:0]
	clear(pt.dirty)
	return nil
}

// The KV headers of a deletion, as the KV client writes it.
const (
	kvOperation = "KV-Operation"
	kvDelete    = "DEL"
)

// deadLetter sends a part of an input message that can never be processed
// to the dead-letter subject; the input itself is acknowledged with the
// rest.
func (pt *partition) deadLetter(ctx context.Context, in jetstream.Msg, payload []byte, reason error) {
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

// armTimer sets the timer to the earliest pending expiry.
func (pt *partition) armTimer() {
	if len(pt.timers) == 0 {
		return
	}
	pt.timer.Reset(max(time.Until(pt.timers[0].at), 0))
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
