package grouper

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/natsembed/natstest"
	"github.com/klaxon-alerts/klaxon/pkg/streams"
)

// What a flush suppressed is published once per reason on
// klaxon.suppressed.<reason>; a retried flush republishes the same ids and
// JetStream keeps one copy.
func TestSuppressedPublishedOncePerReason(t *testing.T) {
	_, js := natstest.Start(t)
	ctx := t.Context()
	if err := streams.Provision(ctx, js, streams.Options{}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	events := []contract.Suppressed{
		{Version: contract.Version, Reason: contract.ReasonInhibition, GroupKey: "{}:{}", RouteID: "{}", Receiver: "r", At: at,
			Alerts: []contract.SuppressedAlert{{Fingerprint: "a1", Labels: model.LabelSet{"n": "a"}, Status: "firing", InhibitedBy: []string{"s1"}}}},
		{Version: contract.Version, Reason: contract.ReasonSilence, GroupKey: "{}:{}", RouteID: "{}", Receiver: "r", At: at,
			Alerts: []contract.SuppressedAlert{{Fingerprint: "b2", Labels: model.LabelSet{"n": "b"}, Status: "firing", SilencedBy: []string{"sil-1"}}}},
	}
	p := NewSuppressedPublisher(js, nil)
	for range 2 { // the flush, then its retry
		if err := p.Record(ctx, events); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, contract.StreamSuppressed, jetstream.ConsumerConfig{AckPolicy: jetstream.AckNonePolicy})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(4, jetstream.FetchMaxWait(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]contract.Suppressed{}
	for msg := range batch.Messages() {
		var ev contract.Suppressed
		if err := json.Unmarshal(msg.Data(), &ev); err != nil {
			t.Fatal(err)
		}
		if msg.Subject() != contract.SuppressedSubject(ev.Reason) {
			t.Errorf("event %s on subject %s", ev.Reason, msg.Subject())
		}
		if _, dup := got[ev.Reason]; dup {
			t.Errorf("event %s stored twice", ev.Reason)
		}
		got[ev.Reason] = ev
	}
	if len(got) != 2 || got[contract.ReasonSilence].Alerts[0].SilencedBy[0] != "sil-1" {
		t.Fatalf("stored events %+v", got)
	}
}
