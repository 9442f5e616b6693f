package contract

import (
	"fmt"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/fault"
)

// Event is a versioned event type of this package.
type Event interface {
	EventVersion() int
}

// Decode reads one event of type T, as encoding/json would (alert.Unmarshal:
// its alerts and label sets read once). An event that does not decode, or of a
// version this build does not know, is a final error: redelivering it
// cannot help, so it goes to the dead-letter subject with the reason.
func Decode[T Event](data []byte) (T, error) {
	var ev T
	if err := alert.Unmarshal(data, &ev); err != nil {
		return ev, fault.Final(fmt.Errorf("decode %T: %w", ev, err))
	}
	if v := ev.EventVersion(); v != Version {
		return ev, fault.Final(fmt.Errorf("%T version %d not supported (this build reads version %d)", ev, v, Version))
	}
	return ev, nil
}

// EventVersion implements Event.
func (e AlertChanged) EventVersion() int { return e.Version }

// EventVersion implements Event.
func (e AlertRouted) EventVersion() int { return e.Version }

// EventVersion implements Event.
func (e Notification) EventVersion() int { return e.Version }

// EventVersion implements Event.
func (e DeadLetter) EventVersion() int { return e.Version }

// EventVersion implements Event.
func (e Suppressed) EventVersion() int { return e.Version }
