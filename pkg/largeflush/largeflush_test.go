package largeflush_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/largeflush"
	"github.com/klaxon-alerts/klaxon/pkg/natsembed/natstest"
	"github.com/klaxon-alerts/klaxon/pkg/streams"
)

func notification(n int) contract.Notification {
	now := time.Unix(1700000000, 0).UTC()
	note := contract.Notification{Version: contract.Version, GroupKey: `{}:{job="large"}`, FlushSeq: 1, FlushedAt: now}
	for i := range n {
		note.Alerts = append(note.Alerts, alert.Alert{
			Labels:      model.LabelSet{"alertname": "Large", "job": "large", "instance": model.LabelValue(fmt.Sprintf("node-%d:9100", i))},
			Annotations: model.LabelSet{"summary": model.LabelValue(strings.Repeat("x", 200))},
			StartsAt:    now, EndsAt: now.Add(time.Hour), UpdatedAt: now,
		})
	}
	return note
}

func TestLargeNotificationKeepsItsAlertsInTheObjectStore(t *testing.T) {
	_, js := natstest.Start(t)
	if err := streams.Provision(t.Context(), js, streams.Options{}); err != nil {
		t.Fatal(err)
	}
	s := largeflush.New(js)
	obj, err := js.ObjectStore(t.Context(), contract.BucketFlushes)
	if err != nil {
		t.Fatal(err)
	}

	// A small notification is carried whole; nothing is stored.
	small, err := s.Encode(t.Context(), "small", notification(3))
	if err != nil {
		t.Fatal(err)
	}
	if note, err := contract.Decode[contract.Notification](small); err != nil || note.AlertsObject != "" || len(note.Alerts) != 3 {
		t.Fatalf("small notification: %d alerts, object %q, err %v", len(note.Alerts), note.AlertsObject, err)
	}
	if _, err := obj.List(t.Context()); !errors.Is(err, jetstream.ErrNoObjectsFound) {
		t.Fatalf("objects after a small notification: %v, want none", err)
	}

	// 5,000 alerts (~2 MB) are beyond the limit: the body names an object.
	want := notification(5000)
	body, err := s.Encode(t.Context(), "ntf-large-1", want)
	if err != nil {
		t.Fatal(err)
	}
	if len(body) > 4<<10 {
		t.Fatalf("large notification body is %d bytes; want the alerts out of it", len(body))
	}
	note, err := contract.Decode[contract.Notification](body)
	if err != nil || note.AlertsObject != "ntf-large-1" || len(note.Alerts) != 0 {
		t.Fatalf("large notification: %d alerts, object %q, err %v", len(note.Alerts), note.AlertsObject, err)
	}
	if err := s.Load(t.Context(), &note); err != nil {
		t.Fatal(err)
	}
	if len(note.Alerts) != len(want.Alerts) || !reflect.DeepEqual(note.Alerts, want.Alerts) {
		t.Fatalf("loaded %d alerts, want %d equal to those encoded", len(note.Alerts), len(want.Alerts))
	}

	// Removed once processed; a redelivery then finds it gone.
	if err := s.Remove(t.Context(), &note); err != nil {
		t.Fatal(err)
	}
	again, _ := contract.Decode[contract.Notification](body)
	if err := s.Load(t.Context(), &again); !errors.Is(err, largeflush.ErrGone) {
		t.Fatalf("load after remove: %v, want ErrGone", err)
	}
	if err := s.Remove(t.Context(), &again); err != nil {
		t.Fatalf("a second remove: %v, want none", err)
	}
}
