package dlq

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/klaxon-alerts/klaxon/pkg/bus"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/natsembed/natstest"
	"github.com/klaxon-alerts/klaxon/pkg/streams"
)

var failedAt = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func setup(t *testing.T) jetstream.JetStream {
	t.Helper()
	_, js := natstest.Start(t)
	if err := streams.Provision(t.Context(), js, streams.Options{}); err != nil {
		t.Fatal(err)
	}
	return js
}

// deadLetter stores a dead letter as the bus router does.
func deadLetter(t *testing.T, js jetstream.JetStream, stage, subject, payload string, headers map[string]string) uint64 {
	t.Helper()
	body, err := json.Marshal(contract.DeadLetter{
		Version: contract.Version, Stage: stage, Subject: subject, Reason: "notify team/webhook[0]: unexpected status code 400",
		Headers: headers, Payload: []byte(payload), FailedAt: failedAt,
	})
	if err != nil {
		t.Fatal(err)
	}
	ack, err := js.Publish(t.Context(), contract.DLQSubject(stage), body)
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

func TestListGet(t *testing.T) {
	js := setup(t)
	q := New(js)
	if ls, err := q.List(t.Context(), ""); err != nil || len(ls) != 0 {
		t.Fatalf("empty: %v %v", ls, err)
	}
	n1 := deadLetter(t, js, contract.StageNotifier, contract.NotifySubject("slack"), `{"n":1}`, nil)
	d1 := deadLetter(t, js, contract.StageDedup, contract.SubjectAlertsIn, `[{"labels":{}}]`, nil)
	n2 := deadLetter(t, js, contract.StageNotifier, contract.NotifySubject("email"), `{"n":2}`, nil)
	bad, err := js.Publish(t.Context(), contract.DLQSubject(contract.StageRouter), []byte("not json"))
	if err != nil {
		t.Fatal(err)
	}

	all, err := q.List(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := seqs(all); got != fmt.Sprint([]uint64{n1, d1, n2, bad.Sequence}) {
		t.Fatalf("all: %s", got)
	}
	notifier, err := q.List(t.Context(), contract.StageNotifier)
	if err != nil {
		t.Fatal(err)
	}
	if got := seqs(notifier); got != fmt.Sprint([]uint64{n1, n2}) {
		t.Fatalf("notifier: %s", got)
	}
	l := notifier[1]
	if l.Stage != contract.StageNotifier || l.Subject != contract.NotifySubject("email") || string(l.Payload) != `{"n":2}` ||
		!l.FailedAt.Equal(failedAt) || l.DLQSubject != "klaxon.dlq.notifier" || l.Stored.IsZero() || l.Err != nil {
		t.Fatalf("letter %+v", l)
	}
	if u := all[3]; !errors.Is(u.Err, ErrUndecodable) || u.Stage != contract.StageRouter || string(u.Payload) != "not json" {
		t.Fatalf("undecodable %+v", u)
	}
	got, err := q.Get(t.Context(), d1)
	if err != nil || got.Subject != contract.SubjectAlertsIn {
		t.Fatalf("Get: %+v %v", got, err)
	}
	if _, err := q.Get(t.Context(), 999); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(999): %v", err)
	}
}

// TestListMany: more dead letters than one fetch.
func TestListMany(t *testing.T) {
	js := setup(t)
	for i := range 600 {
		deadLetter(t, js, contract.StageGrouper, contract.SubjectAlertsRouted, fmt.Sprint(i), nil)
	}
	ls, err := New(js).List(t.Context(), contract.StageGrouper)
	if err != nil || len(ls) != 600 || string(ls[599].Payload) != "599" {
		t.Fatalf("%d letters, %v", len(ls), err)
	}
}

func TestRedrive(t *testing.T) {
	js := setup(t)
	q := New(js)
	headers := map[string]string{
		bus.MetaMsgID:             "notify:g1:1:slack:0",
		bus.MetaSubject:           "klaxon.notify.slack",
		bus.MetaDeliveries:        "5",
		bus.MetaMaxDeliver:        "5",
		bus.MetaStreamSeq:         "17",
		bus.MetaPublished:         "2026-01-02T03:04:05Z",
		"Nats-Schedule":           "@at 2026-01-02T03:04:05Z",
		"correlation_id":          "c0ffee",
		contract.HeaderReceivedAt: "2026-01-02T03:04:00Z",
	}
	seq := deadLetter(t, js, contract.StageNotifier, contract.NotifySubject("slack"), `{"version":1}`, headers)
	other := deadLetter(t, js, contract.StageNotifier, contract.NotifySubject("email"), `{"version":1}`, nil)

	l, err := q.Redrive(t.Context(), seq)
	if err != nil || l.Seq != seq {
		t.Fatalf("Redrive: %+v %v", l, err)
	}
	stream, err := js.Stream(t.Context(), contract.StreamNotify)
	if err != nil {
		t.Fatal(err)
	}
	m, err := stream.GetLastMsgForSubject(t.Context(), contract.NotifySubject("slack"))
	if err != nil {
		t.Fatalf("not republished: %v", err)
	}
	if string(m.Data) != `{"version":1}` {
		t.Errorf("payload %s", m.Data)
	}
	want := fmt.Sprint(map[string][]string{
		"Nats-Msg-Id":             {fmt.Sprintf("redrive:%d:%d", seq, l.Stored.UnixNano())},
		"correlation_id":          {"c0ffee"},
		contract.HeaderReceivedAt: {"2026-01-02T03:04:00Z"},
	})
	if got := fmt.Sprint(map[string][]string(m.Header)); got != want {
		t.Errorf("headers %s, want %s", got, want)
	}
	if _, err := q.Get(t.Context(), seq); !errors.Is(err, ErrNotFound) {
		t.Errorf("dead letter not deleted: %v", err)
	}
	if _, err := q.Redrive(t.Context(), seq); !errors.Is(err, ErrNotFound) {
		t.Errorf("second redrive: %v", err)
	}
	if ls, _ := q.List(t.Context(), ""); seqs(ls) != fmt.Sprint([]uint64{other}) {
		t.Errorf("left: %s", seqs(ls))
	}

	bad, err := js.Publish(t.Context(), contract.DLQSubject(contract.StageRouter), []byte("not json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Redrive(t.Context(), bad.Sequence); !errors.Is(err, ErrUndecodable) {
		t.Errorf("undecodable: %v", err)
	}
	loop := deadLetter(t, js, contract.StageNotifier, contract.DLQSubject("x"), "{}", nil)
	if _, err := q.Redrive(t.Context(), loop); err == nil {
		t.Error("redrive to a dead-letter subject accepted")
	}
}

// TestRedriveRepeated: a redrive repeated after the republish (a crash
// before the delete) is dropped by the server as a duplicate.
func TestRedriveRepeated(t *testing.T) {
	js := setup(t)
	q := New(js)
	seq := deadLetter(t, js, contract.StageNotifier, contract.NotifySubject("slack"), `{"version":1}`, nil)
	l, err := q.Get(t.Context(), seq)
	if err != nil {
		t.Fatal(err)
	}
	// The first attempt's republish, as Redrive makes it.
	id := fmt.Sprintf("redrive:%d:%d", seq, l.Stored.UnixNano())
	if _, err := js.Publish(t.Context(), l.Subject, l.Payload, jetstream.WithMsgID(id)); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Redrive(t.Context(), seq); err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(t.Context(), contract.StreamNotify)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(t.Context())
	if err != nil || info.State.Msgs != 1 {
		t.Fatalf("notify stream holds %d messages, want 1 (%v)", info.State.Msgs, err)
	}
}

func seqs(ls []Letter) string {
	out := make([]uint64, 0, len(ls))
	for _, l := range ls {
		out = append(out, l.Seq)
	}
	return fmt.Sprint(out)
}
