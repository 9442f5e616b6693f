package stage_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/klaxon-alerts/klaxon/pkg/bus"
	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/natsembed/natstest"
	"github.com/klaxon-alerts/klaxon/pkg/stage"
	"github.com/klaxon-alerts/klaxon/pkg/streams"
)

// The skeleton every stage runs on: a decoded event reaches the handler; an
// event of a version this build does not read is dead-lettered at once with
// the reason, stamped with the stage's clock.
func TestRunDecodesAndDeadLettersUnknownVersions(t *testing.T) {
	_, js := natstest.Start(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if err := streams.Provision(ctx, js, streams.Options{}); err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	deps, err := stage.Deps{JS: js, Config: func() *config.Config { return &config.Config{} }, Now: func() time.Time { return clock }}.Resolve("test")
	if err != nil {
		t.Fatal(err)
	}
	pub := bus.NewPublisher(js, nil)
	got := make(chan contract.AlertChanged, 1)
	done := make(chan error, 1)
	go func() {
		done <- deps.Run(ctx, contract.StageGrouper, pub, stage.Consumer{
			Name: "changes", Subject: contract.SubjectAlertsChanged,
			Subscriber: stage.Durable(contract.StreamAlerts, contract.ConsumerRouter),
			Handle: stage.Handle(func(_ context.Context, ev contract.AlertChanged) error {
				got <- ev
				return nil
			}),
		})
	}()
	for i, body := range []string{`{"version":99,"fingerprint":"future"}`, `{"version":1,"fingerprint":"f1"}`} {
		if err := pub.Publish(contract.SubjectAlertsChanged, message.NewMessage(fmt.Sprint("change-", i), []byte(body))); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case ev := <-got:
		if ev.Fingerprint != "f1" {
			t.Fatalf("handler got %+v, want the version-1 change only", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("change not handled")
	}
	dl := deadLetter(t, js)
	if dl.Stage != contract.StageGrouper || !strings.Contains(dl.Reason, "version 99") || !dl.FailedAt.Equal(clock) {
		t.Fatalf("dead letter %+v, want the grouper's, naming version 99, at the stage's clock", dl)
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
}

func deadLetter(t *testing.T, js jetstream.JetStream) contract.DeadLetter {
	t.Helper()
	cons, err := js.CreateOrUpdateConsumer(t.Context(), contract.StreamDLQ, jetstream.ConsumerConfig{AckPolicy: jetstream.AckNonePolicy})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
	if err != nil {
		t.Fatalf("no dead letter: %v", err)
	}
	var dl contract.DeadLetter
	if err := json.Unmarshal(msg.Data(), &dl); err != nil {
		t.Fatal(err)
	}
	return dl
}
