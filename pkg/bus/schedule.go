package bus

import (
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/klaxon-alerts/klaxon/pkg/contract"
)

// Scheduled builds a JetStream scheduled message (nats-server ≥ 2.12): once
// published on its schedule subject, the server delivers body to target at
// at. A schedule subject holds one schedule: publishing another replaces it.
// id is the message's deterministic Nats-Msg-Id.
func Scheduled(id string, body []byte, at time.Time, target string) *message.Message {
	m := message.NewMessage(id, body)
	m.Metadata.Set(MetaMsgID, id)
	m.Metadata.Set(contract.HeaderSchedule, "@at "+at.UTC().Format(time.RFC3339Nano))
	m.Metadata.Set(contract.HeaderScheduleTarget, target)
	return m
}
