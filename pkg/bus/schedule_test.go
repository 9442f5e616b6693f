package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/klaxon-alerts/klaxon/pkg/bus"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/natsembed/natstest"
	"github.com/klaxon-alerts/klaxon/pkg/streams"
)

// A timer due now is delivered at once; a later one is scheduled and arrives
// (ScheduleLead early at most) before its time, never after it by more than
// the server's scheduler tick.
func TestTimerDelivery(t *testing.T) {
	_, js := natstest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := streams.Provision(ctx, js, streams.Options{}); err != nil {
		t.Fatal(err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, contract.StreamTimers, jetstream.ConsumerConfig{
		FilterSubject: contract.SubjectTickGroupPrefix + ">", AckPolicy: jetstream.AckExplicitPolicy,
	})
	if err != nil {
		t.Fatal(err)
	}
	pub := bus.NewPublisher(js, nil)
	for _, offset := range []time.Duration{0, 800 * time.Millisecond} {
		now := time.Now()
		at := now.Add(offset)
		subject, m := bus.Timer("t-"+offset.String(), []byte(offset.String()), at, now,
			contract.TimerSubject("g"), contract.TickSubject("g"))
		if err := pub.Publish(subject, m); err != nil {
			t.Fatal(err)
		}
		msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatalf("timer %v not delivered: %v", offset, err)
		}
		_ = msg.Ack()
		arrived := time.Now()
		if string(msg.Data()) != offset.String() {
			t.Fatalf("got body %q", msg.Data())
		}
		if arrived.Before(at.Add(-bus.ScheduleLead)) || arrived.After(at.Add(100*time.Millisecond)) {
			t.Errorf("timer for +%v arrived at +%v", offset, arrived.Sub(now))
		}
		if err := bus.HoldUntil(ctx, at, time.Now()); err != nil || time.Now().Before(at) {
			t.Errorf("HoldUntil returned %v before %v", err, at)
		}
	}
}
