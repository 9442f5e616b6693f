package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/klaxon-alerts/klaxon/pkg/bus"
)

// mustStream creates a stream capturing subjects, named after the first.
func mustStream(t *testing.T, js jetstream.JetStream, subjects ...string) string {
	t.Helper()
	if err := provisionStream(t.Context(), js, subjects...); err != nil {
		t.Fatalf("create stream for %v: %v", subjects, err)
	}
	return bus.Name(subjects[0])
}

// receive reads one message from ch, failing the test after timeout.
func receive(t *testing.T, ch <-chan *message.Message, timeout time.Duration) *message.Message {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatal("message channel closed")
		}
		return m
	case <-time.After(timeout):
		t.Fatalf("no message within %s", timeout)
	}
	return nil
}

// eventually polls cond every 10ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not a wait for work
	}
}

// consumerInfo fetches the durable consumer's state from the server.
func consumerInfo(t *testing.T, js jetstream.JetStream, stream, durable string) *jetstream.ConsumerInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, stream, durable)
	if err != nil {
		t.Fatalf("consumer %s/%s: %v", stream, durable, err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatalf("consumer info %s/%s: %v", stream, durable, err)
	}
	return info
}

// fullyAcked reports whether the consumer has delivered and acked
// everything up to the stream's last sequence.
func fullyAcked(t *testing.T, js jetstream.JetStream, stream, durable string) bool {
	info := consumerInfo(t, js, stream, durable)
	return info.NumPending == 0 && info.NumAckPending == 0 &&
		info.AckFloor.Stream == info.Delivered.Stream
}
