package streams_test

import (
	"testing"

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
	for _, name := range []string{contract.StreamInput, contract.StreamAlerts, contract.StreamRouted, contract.StreamNotify, contract.StreamSuppressed, contract.StreamDLQ} {
		if _, err := js.Stream(ctx, name); err != nil {
			t.Errorf("stream %s: %v", name, err)
		}
	}
}
