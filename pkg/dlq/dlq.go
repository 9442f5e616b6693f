// Package dlq lets an operator see and resend dead letters: the inputs a
// stage gave up on (a final error, or the last delivery failed), kept with
// the reason in the KLAXON_DLQ stream on klaxon.dlq.<stage> as
// contract.DeadLetter.
//
// A dead letter's id is its sequence in the stream. Redrive republishes the
// original payload, with its original headers (delivery facts and NATS
// control headers left out), to its original subject, where the stage's
// consumer takes it as a new message; then it deletes the dead letter. The
// republish carries a Nats-Msg-Id derived from the dead letter, so a
// redrive repeated after a crash between the two steps is dropped by the
// server as a duplicate.
//
// A redriven notification meets the notification log like any other: if a
// later flush of its group was notified since, it is acknowledged without
// sending (it is stale).
package dlq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/klaxon-alerts/klaxon/pkg/bus"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
)

// ErrNotFound is returned for a sequence that holds no dead letter.
var ErrNotFound = errors.New("dead letter not found")

// ErrUndecodable is returned when redriving a stored message that is not a
// contract.DeadLetter.
var ErrUndecodable = errors.New("not a dead letter")

// Letter is one stored dead letter.
type Letter struct {
	// Seq is the dead letter's sequence in the KLAXON_DLQ stream: its id.
	Seq uint64
	// Stored is when the dead letter was stored.
	Stored time.Time
	// DLQSubject is the subject it is stored on (klaxon.dlq.<stage>).
	DLQSubject string
	contract.DeadLetter
	// Err is set when the stored message is not a decodable DeadLetter;
	// DeadLetter then holds only the stage (from the subject) and Payload
	// the raw message.
	Err error `json:"-"`
}

// Queue reads and redrives the dead letters of one JetStream account.
type Queue struct {
	js jetstream.JetStream
}

// New returns the dead-letter queue of js. The KLAXON_DLQ stream must exist
// (streams.Provision).
func New(js jetstream.JetStream) *Queue { return &Queue{js: js} }

// filter returns the DLQ subject of stage, or of every stage.
func filter(stage string) string {
	if stage == "" {
		return contract.SubjectDLQPrefix + ">"
	}
	return contract.DLQSubject(stage)
}

// fetchWait bounds the wait for a batch that the stream said it holds.
const fetchWait = 5 * time.Second

// List returns the dead letters of stage ("" for every stage), oldest
// first.
func (q *Queue) List(ctx context.Context, stage string) ([]Letter, error) {
	subject := filter(stage)
	stream, err := q.js.Stream(ctx, contract.StreamDLQ)
	if err != nil {
		return nil, fmt.Errorf("dead-letter stream: %w", err)
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		return nil, fmt.Errorf("dead-letter stream: %w", err)
	}
	var total uint64
	for _, n := range info.State.Subjects {
		total += n
	}
	if total == 0 {
		return nil, nil
	}
	cons, err := q.js.OrderedConsumer(ctx, contract.StreamDLQ, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subject},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("read dead letters: %w", err)
	}
	letters := make([]Letter, 0, total)
	for want := total; ; {
		// Ask for no more than the stream holds: a fetch waits for a full
		// batch.
		batch, err := cons.Fetch(int(min(want, 256)), jetstream.FetchMaxWait(fetchWait))
		if err != nil {
			return nil, fmt.Errorf("read dead letters: %w", err)
		}
		got, pending := 0, uint64(0)
		for m := range batch.Messages() {
			md, err := m.Metadata()
			if err != nil {
				return nil, fmt.Errorf("read dead letters: %w", err)
			}
			letters = append(letters, decode(md.Sequence.Stream, md.Timestamp, m.Subject(), m.Data()))
			got, pending = got+1, md.NumPending
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return nil, fmt.Errorf("read dead letters: %w", err)
		}
		if got == 0 || pending == 0 {
			return letters, nil
		}
		want = pending
	}
}

// Get returns the dead letter at seq.
func (q *Queue) Get(ctx context.Context, seq uint64) (*Letter, error) {
	stream, err := q.js.Stream(ctx, contract.StreamDLQ)
	if err != nil {
		return nil, fmt.Errorf("dead-letter stream: %w", err)
	}
	raw, err := stream.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("%w: %d", ErrNotFound, seq)
	}
	if err != nil {
		return nil, fmt.Errorf("get dead letter %d: %w", seq, err)
	}
	if !strings.HasPrefix(raw.Subject, contract.SubjectDLQPrefix) {
		return nil, fmt.Errorf("%w: %d", ErrNotFound, seq)
	}
	l := decode(raw.Sequence, raw.Time, raw.Subject, raw.Data)
	return &l, nil
}

func decode(seq uint64, stored time.Time, subject string, data []byte) Letter {
	l := Letter{Seq: seq, Stored: stored, DLQSubject: subject}
	if err := json.Unmarshal(data, &l.DeadLetter); err != nil {
		l.Err = fmt.Errorf("%w: %w", ErrUndecodable, err)
		l.DeadLetter = contract.DeadLetter{Stage: strings.TrimPrefix(subject, contract.SubjectDLQPrefix), Payload: data}
	}
	return l
}

// Redrive republishes the dead letter at seq to its original subject and
// deletes it. It returns the letter redriven.
func (q *Queue) Redrive(ctx context.Context, seq uint64) (*Letter, error) {
	l, err := q.Get(ctx, seq)
	if err != nil {
		return nil, err
	}
	if l.Err != nil {
		return l, fmt.Errorf("redrive %d: %w", seq, l.Err)
	}
	if l.Subject == "" || strings.HasPrefix(l.Subject, contract.SubjectDLQPrefix) {
		return l, fmt.Errorf("redrive %d: original subject %q cannot be redriven", seq, l.Subject)
	}
	msg := &nats.Msg{Subject: l.Subject, Header: RedriveHeaders(l.Headers), Data: l.Payload}
	id := "redrive:" + strconv.FormatUint(seq, 10) + ":" + strconv.FormatInt(l.Stored.UnixNano(), 10)
	if _, err := q.js.PublishMsg(ctx, msg, jetstream.WithMsgID(id)); err != nil {
		return l, fmt.Errorf("redrive %d to %s: %w", seq, l.Subject, err)
	}
	stream, err := q.js.Stream(ctx, contract.StreamDLQ)
	if err != nil {
		return l, fmt.Errorf("redrive %d: republished, not deleted: %w", seq, err)
	}
	if err := stream.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return l, fmt.Errorf("redrive %d: republished, not deleted: %w", seq, err)
	}
	return l, nil
}

// deliveryKeys are the metadata keys that described the failed delivery.
var deliveryKeys = []string{
	bus.MetaSubject, bus.MetaDeliveries, bus.MetaMaxDeliver, bus.MetaStreamSeq, bus.MetaPublished, bus.MetaRetryAfter,
}

// RedriveHeaders returns the headers a dead letter is republished with: its
// original headers without the delivery facts and NATS control headers
// (Nats-Msg-Id, schedules), which belong to the first delivery.
func RedriveHeaders(h map[string]string) nats.Header {
	out := nats.Header{}
	for k, v := range h {
		if slices.Contains(deliveryKeys, k) || strings.HasPrefix(strings.ToLower(k), "nats-") {
			continue
		}
		out.Set(k, v)
	}
	return out
}
