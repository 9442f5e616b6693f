package bus

import (
	"context"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/klaxon-alerts/klaxon/pkg/contract"
)

// ScheduleLead is how early a timer's scheduled message is set to fire.
// nats-server's scheduler fires due messages on a coarse tick (about 250 ms),
// so a timer scheduled for its exact time arrives up to that much late; one
// scheduled ScheduleLead early arrives before its time, and its receiver
// holds it until the time in its body (see HoldUntil).
const ScheduleLead = 300 * time.Millisecond

// Timer returns the subject and message that deliver body to target at at.
// A timer due within ScheduleLead of now is the message itself, on target at
// once; a later one is a JetStream scheduled message (nats-server ≥ 2.12) on
// scheduleSubject, set to fire ScheduleLead early. A schedule subject holds
// one schedule: publishing another replaces it. id is the deterministic
// Nats-Msg-Id.
func Timer(id string, body []byte, at, now time.Time, scheduleSubject, target string) (string, *message.Message) {
	m := message.NewMessage(id, body)
	m.Metadata.Set(MetaMsgID, id)
	fire := at.Add(-ScheduleLead)
	if !fire.After(now) {
		return target, m
	}
	m.Metadata.Set(contract.HeaderSchedule, "@at "+fire.UTC().Format(time.RFC3339Nano))
	m.Metadata.Set(contract.HeaderScheduleTarget, target)
	return scheduleSubject, m
}

// HoldUntil waits until at (at most twice ScheduleLead) for a timer message
// that arrived early. The message stays unacknowledged meanwhile, so a crash
// loses nothing.
func HoldUntil(ctx context.Context, at, now time.Time) error {
	d := at.Sub(now)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(min(d, 2*ScheduleLead))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
