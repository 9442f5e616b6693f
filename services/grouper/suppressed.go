package grouper

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/klaxon-alerts/klaxon/pkg/bus"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/fault"
)

// SuppressedPublisher publishes what a flush's muting left out, one
// Suppressed event per reason on klaxon.suppressed.<reason> (pkg/mute's
// Recorder). An event's id is derived from the route, the group, the flush
// time and the alerts, so a retried flush publishes the same ids and
// JetStream drops the repeats.
type SuppressedPublisher struct {
	pub *bus.Publisher
}

// NewSuppressedPublisher returns a publisher on js.
func NewSuppressedPublisher(js jetstream.JetStream, log *slog.Logger) *SuppressedPublisher {
	return &SuppressedPublisher{pub: bus.NewPublisher(js, log)}
}

// Record publishes the events.
func (p *SuppressedPublisher) Record(_ context.Context, events []contract.Suppressed) error {
	for _, ev := range events {
		body, err := json.Marshal(ev)
		if err != nil {
			return fault.Final(err)
		}
		id := suppressedID(ev)
		msg := message.NewMessage(id, body)
		msg.Metadata.Set(bus.MetaMsgID, id)
		if err := p.pub.Publish(contract.SuppressedSubject(ev.Reason), msg); err != nil {
			return fmt.Errorf("publish suppressed: %w", err)
		}
	}
	return nil
}

func suppressedID(ev contract.Suppressed) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%d", ev.Reason, ev.RouteID, ev.GroupKey, ev.Receiver, ev.At.UnixNano())
	for _, a := range ev.Alerts {
		fmt.Fprintf(h, "\x00%s", a.Fingerprint)
	}
	return "sup-" + hex.EncodeToString(h.Sum(nil)[:16])
}
