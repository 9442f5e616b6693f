package partition

import (
	"container/heap"
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/klaxon-alerts/klaxon/pkg/bus"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/kvcache"
)

// KVPut is the message that writes value to key of a KV bucket, as the KV
// client writes it: States owe their writes as messages.
func KVPut(bucket, key string, value []byte) *nats.Msg {
	m := nats.NewMsg("$KV." + bucket + "." + key)
	m.Data = value
	return m
}

// KVDelete is the message that deletes key of a KV bucket.
func KVDelete(bucket, key string) *nats.Msg {
	m := nats.NewMsg("$KV." + bucket + "." + key)
	m.Header.Set("KV-Operation", "DEL")
	return m
}

// DeadLetter is the dead letter of stage for what of input in can never be
// processed (payload: in's data or a part of it), to publish with the rest
// of a checkpoint; its id derives from in's stream position and payload.
func DeadLetter(stage string, in jetstream.Msg, payload []byte, reason error, now time.Time) (*nats.Msg, error) {
	wm := message.NewMessage("", in.Data())
	for k := range in.Headers() {
		wm.Metadata.Set(k, in.Headers().Get(k))
	}
	wm.Metadata.Set(bus.MetaSubject, in.Subject())
	if md, err := in.Metadata(); err == nil {
		wm.Metadata.Set(bus.MetaStreamSeq, strconv.FormatUint(md.Sequence.Stream, 10))
	}
	out, err := bus.DeadLetter(stage, wm, payload, reason, now)
	if err != nil {
		return nil, err
	}
	m := nats.NewMsg(contract.DLQSubject(stage))
	m.Data = out.Payload
	for k, v := range out.Metadata {
		m.Header.Set(k, v)
	}
	m.Header.Set(jetstream.MsgIDHeader, out.Metadata.Get(bus.MetaMsgID))
	return m, nil
}

// Timer is a pending timer of a State: a key due at a time.
type Timer struct {
	At  time.Time
	Key string
}

// Timers is a State's pending timers, earliest first. A timer whose key
// was re-armed meanwhile stays in it; the State skips it when it is due.
type Timers struct{ h timerHeap }

// Add arms a timer.
func (t *Timers) Add(at time.Time, key string) { heap.Push(&t.h, Timer{At: at, Key: key}) }

// Next is when the earliest timer is due; zero when none is.
func (t *Timers) Next() time.Time {
	if len(t.h) == 0 {
		return time.Time{}
	}
	return t.h[0].At
}

// Due removes and returns the earliest timer if it is due at now.
func (t *Timers) Due(now time.Time) (Timer, bool) {
	if len(t.h) == 0 || t.h[0].At.After(now) {
		return Timer{}, false
	}
	return heap.Pop(&t.h).(Timer), true
}

type timerHeap []Timer

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].At.Before(h[j].At) }
func (h timerHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)        { *h = append(*h, x.(Timer)) }
func (h *timerHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// Scan hands take every current value of a KV bucket whose key belongs to
// one of partitions ps (partitionOf the key): how a new owner loads its
// partitions' state.
func Scan(ctx context.Context, js jetstream.JetStream, bucket string, ps []int, partitionOf func(key string) int, take func(e jetstream.KeyValueEntry)) error {
	_, err := kvcache.Scan(ctx, js, bucket, func(e jetstream.KeyValueEntry) {
		if slices.Contains(ps, partitionOf(e.Key())) {
			take(e)
		}
	})
	return err
}
