package bus_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/klaxon-alerts/klaxon/pkg/bus"
	"github.com/klaxon-alerts/klaxon/pkg/fault"
	"github.com/klaxon-alerts/klaxon/pkg/natsembed"
	"github.com/klaxon-alerts/klaxon/pkg/natsembed/natstest"
)

func streamMsgs(t *testing.T, js jetstream.JetStream, stream string) uint64 {
	t.Helper()
	s, err := js.Stream(t.Context(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// TestPublishDedup: the same MetaMsgID twice is stored once, and both
// publishes succeed (a duplicate PubAck is a success).
func TestPublishDedup(t *testing.T) {
	_, js := natstest.Start(t)
	const topic = "klaxon.dedup.in"
	stream := mustStream(t, js, topic)
	pub := bus.NewPublisher(js, testLogger(t))

	msg := func() *message.Message {
		m := message.NewMessage("random-"+t.Name()+time.Now().String(), []byte("x"))
		m.Metadata.Set(bus.MetaMsgID, "fingerprint:rev-1")
		return m
	}
	if err := pub.Publish(topic, msg()); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(topic, msg(), msg()); err != nil {
		t.Fatalf("duplicate publish: %v", err)
	}
	if n := streamMsgs(t, js, stream); n != 1 {
		t.Fatalf("stream holds %d messages, want 1", n)
	}
	// Without MetaMsgID the UUID is the dedup id.
	same := message.NewMessage("uuid-1", []byte("x"))
	if err := pub.Publish(topic, same, same.Copy()); err != nil {
		t.Fatal(err)
	}
	if n := streamMsgs(t, js, stream); n != 2 {
		t.Fatalf("stream holds %d messages, want 2", n)
	}
}

// TestPublishStreamFull: a DiscardNew stream at its limit refuses with
// ErrStreamFull, a retryable error; the messages that fit are stored.
func TestPublishStreamFull(t *testing.T) {
	_, js := natstest.Start(t)
	const topic = "klaxon.full.in"
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{
		Name: "FULL", Subjects: []string{topic}, MaxMsgs: 2, Discard: jetstream.DiscardNew,
	}); err != nil {
		t.Fatal(err)
	}
	pub := bus.NewPublisher(js, testLogger(t))
	err := pub.Publish(topic,
		message.NewMessage("a", []byte("1")), message.NewMessage("b", []byte("2")), message.NewMessage("c", []byte("3")))
	t.Logf("stream full: %v", err)
	if !errors.Is(err, bus.ErrStreamFull) {
		t.Fatalf("err = %v, want ErrStreamFull", err)
	}
	if fault.IsFinal(err) || errors.Is(err, bus.ErrUnavailable) {
		t.Fatalf("stream full must be retryable back-pressure, got %v", err)
	}
	if !strings.Contains(err.Error(), "message c") {
		t.Errorf("error %q does not name the refused message", err)
	}
	if n := streamMsgs(t, js, "FULL"); n != 2 {
		t.Fatalf("stream holds %d messages, want 2", n)
	}
}

// TestPublishUnavailable: with the server stopped, Publish fails with
// ErrUnavailable within its timeout; with the connection closed, at once.
func TestPublishUnavailable(t *testing.T) {
	srv, err := natsembed.Start(natsembed.Options{StoreDir: t.TempDir(), ListenAddress: "127.0.0.1:-1"})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			srv.Shutdown()
		}
	})
	nc, js := natstest.Connect(t, srv.ClientURL())
	const topic = "klaxon.down.in"
	mustStream(t, js, topic)
	const timeout = 300 * time.Millisecond
	pub := bus.NewPublisher(js, testLogger(t), bus.WithPublishTimeout(timeout))
	if err := pub.Publish(topic, message.NewMessage("before", nil)); err != nil {
		t.Fatalf("publish while up: %v", err)
	}

	srv.Shutdown()
	stopped = true
	start := time.Now()
	err = pub.Publish(topic, message.NewMessage("during", nil))
	took := time.Since(start)
	t.Logf("server stopped: %v (after %s)", err, took)
	if !errors.Is(err, bus.ErrUnavailable) || fault.IsFinal(err) {
		t.Fatalf("server stopped: err = %v, want retryable ErrUnavailable", err)
	}
	if took > timeout+2*time.Second {
		t.Fatalf("server stopped: Publish took %s, want about %s", took, timeout)
	}

	nc.Close()
	start = time.Now()
	err = pub.Publish(topic, message.NewMessage("closed", nil))
	if !errors.Is(err, bus.ErrUnavailable) || !errors.Is(err, nats.ErrConnectionClosed) {
		t.Fatalf("connection closed: err = %v, want ErrUnavailable wrapping ErrConnectionClosed", err)
	}
	if took := time.Since(start); took > timeout {
		t.Fatalf("connection closed: Publish took %s, want immediate", took)
	}
}

// TestPublishNoStream: a subject no stream captures gets no answer: that
// is ErrUnavailable (in a cluster it is also what a leaderless stream says).
func TestPublishNoStream(t *testing.T) {
	_, js := natstest.Start(t)
	pub := bus.NewPublisher(js, testLogger(t), bus.WithPublishTimeout(3*time.Second))
	err := pub.Publish("klaxon.nobody.listens", message.NewMessage("x", nil))
	t.Logf("no stream: %v", err)
	if !errors.Is(err, bus.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
}

// TestPublishFinal: messages the stream can never take are final errors.
func TestPublishFinal(t *testing.T) {
	_, js := natstest.Start(t)
	const topic = "klaxon.final.in"
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{
		Name: "SMALL", Subjects: []string{topic}, MaxMsgSize: 64,
	}); err != nil {
		t.Fatal(err)
	}
	pub := bus.NewPublisher(js, testLogger(t))

	bad := message.NewMessage("bad-header", nil)
	bad.Metadata.Set("has space", "v")
	if err := pub.Publish(topic, bad); !fault.IsFinal(err) || !errors.Is(err, bus.ErrInvalidHeader) {
		t.Fatalf("invalid header: err = %v, want final ErrInvalidHeader", err)
	}
	crlf := message.NewMessage("bad-value", nil)
	crlf.Metadata.Set("k", "line\r\nInjected: yes")
	if err := pub.Publish(topic, crlf); !fault.IsFinal(err) {
		t.Fatalf("CRLF in header value: err = %v, want final", err)
	}
	big := message.NewMessage("big", []byte(strings.Repeat("x", 1000)))
	err := pub.Publish(topic, big)
	t.Logf("too large: %v", err)
	if !fault.IsFinal(err) {
		t.Fatalf("too large: err = %v, want final", err)
	}
	if n := streamMsgs(t, js, "SMALL"); n != 0 {
		t.Fatalf("stream holds %d messages, want 0", n)
	}
}

func TestPublishAfterClose(t *testing.T) {
	_, js := natstest.Start(t)
	pub := bus.NewPublisher(js, testLogger(t))
	if err := pub.Close(); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish("klaxon.x", message.NewMessage("x", nil)); !errors.Is(err, bus.ErrPublisherClosed) {
		t.Fatalf("err = %v, want ErrPublisherClosed", err)
	}
}

// TestPublishAckTimeout: a publish that reaches something other than a
// stream gets no PubAck: ErrUnavailable once the publish timeout passes.
func TestPublishAckTimeout(t *testing.T) {
	nc, js := natstest.Start(t)
	const topic = "klaxon.blackhole"
	if _, err := nc.Subscribe(topic, func(*nats.Msg) {}); err != nil { // listens, never acks
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	const timeout = 200 * time.Millisecond
	pub := bus.NewPublisher(js, testLogger(t), bus.WithPublishTimeout(timeout))
	start := time.Now()
	err := pub.Publish(topic, message.NewMessage("x", nil))
	took := time.Since(start)
	if !errors.Is(err, bus.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrUnavailable after the deadline", err)
	}
	if took < timeout || took > timeout+2*time.Second {
		t.Fatalf("Publish took %s, want about %s", took, timeout)
	}
}
