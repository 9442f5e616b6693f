package streams_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/natsembed/natstest"
	"github.com/klaxon-alerts/klaxon/pkg/streams"
)

func TestProvisionIsIdempotent(t *testing.T) {
	_, js := natstest.Start(t)
	ctx := t.Context()
	for range 2 {
		if err := streams.Provision(ctx, js, streams.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{contract.StreamInput, contract.StreamAlerts, contract.StreamTimers, contract.StreamNotify, contract.StreamDLQ} {
		if _, err := js.Stream(ctx, name); err != nil {
			t.Errorf("stream %s: %v", name, err)
		}
	}
}

// A scheduled message on a group's timer subject is delivered to its tick
// subject when due, and re-publishing the schedule replaces it: the timer
// mechanism the grouper relies on.
func TestScheduleFiresOnceAndReplaces(t *testing.T) {
	_, js := natstest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := streams.Provision(ctx, js, streams.Options{}); err != nil {
		t.Fatal(err)
	}
	schedule := func(at time.Time, body string) {
		t.Helper()
		msg := nats.NewMsg(contract.TimerSubject("g1"))
		msg.Header.Set("Nats-Schedule", "@at "+at.UTC().Format(time.RFC3339))
		msg.Header.Set("Nats-Schedule-Target", contract.TickSubject("g1"))
		msg.Data = []byte(body)
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			t.Fatalf("schedule: %v", err)
		}
	}
	schedule(time.Now().Add(time.Hour), "first")
	schedule(time.Now().Add(time.Second), "second")

	cons, err := js.CreateOrUpdateConsumer(ctx, contract.StreamTimers, jetstream.ConsumerConfig{
		FilterSubject: contract.SubjectTickGroupPrefix + ">", AckPolicy: jetstream.AckExplicitPolicy,
	})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
	if err != nil {
		t.Fatalf("no tick: %v", err)
	}
	if got := string(msg.Data()); got != "second" {
		t.Fatalf("tick body = %q, want the replacing schedule's", got)
	}
	if msg.Subject() != contract.TickSubject("g1") {
		t.Fatalf("tick subject = %q", msg.Subject())
	}
	info, err := js.Stream(ctx, contract.StreamTimers)
	if err != nil {
		t.Fatal(err)
	}
	st, err := info.Info(ctx, jetstream.WithSubjectFilter(contract.TimerSubject("g1")))
	if err != nil {
		t.Fatal(err)
	}
	if n := st.State.Subjects[contract.TimerSubject("g1")]; n != 0 {
		t.Fatalf("schedule still stored after firing: %d messages (the replaced one must be gone)", n)
	}
}
