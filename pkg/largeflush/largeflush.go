// Package largeflush carries the alerts of a notification too large for one
// NATS message: the grouper stores them as an object in the object store
// contract.BucketFlushes and the notification names it; the notifier reads
// them back, and removes the object once the notification is processed.
//
// A group of 100,000 alerts flushes ~40 MB of alerts; a NATS message is at
// most max_payload (1 MiB by default, 8 MiB embedded). Without this, such a
// flush could never be stored, and its partition's checkpoint would retry it
// for ever.
package largeflush

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/fault"
)

// MaxInline bounds a notification carried whole in its message; a larger
// one, or one beyond half the connection's max_payload, keeps its alerts in
// the object store.
const MaxInline = 512 << 10

// ErrGone: the notification's alerts are no longer stored — it was
// processed already (the object is removed then), or the object outlived
// the bucket's TTL.
var ErrGone = errors.New("alerts of a large notification are gone")

// Store is the object store of large notifications' alerts. It is safe for
// concurrent use.
type Store struct {
	js jetstream.JetStream

	mu  sync.Mutex
	obj jetstream.ObjectStore
}

// New returns the store over js; the bucket is provisioned by
// streams.Provision and looked up on first use.
func New(js jetstream.JetStream) *Store { return &Store{js: js} }

func (s *Store) bucket(ctx context.Context) (jetstream.ObjectStore, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.obj != nil {
		return s.obj, nil
	}
	obj, err := s.js.ObjectStore(ctx, contract.BucketFlushes)
	if err != nil {
		return nil, fmt.Errorf("object store %s: %w", contract.BucketFlushes, err)
	}
	s.obj = obj
	return obj, nil
}

// limit is the largest notification carried whole on this connection.
func (s *Store) limit() int {
	if nc := s.js.Conn(); nc != nil && nc.MaxPayload() > 0 {
		return min(MaxInline, int(nc.MaxPayload()/2))
	}
	return MaxInline
}

// Encode returns the message body of note. When it would be larger than
// the limit, the alerts are stored first as the object name (the
// notification's message id: a repeated flush overwrites its own object)
// and the body names it instead of holding them.
func (s *Store) Encode(ctx context.Context, name string, note contract.Notification) ([]byte, error) {
	body, err := json.Marshal(note)
	if err != nil || len(body) <= s.limit() {
		return body, err
	}
	alerts, err := json.Marshal(note.Alerts)
	if err != nil {
		return nil, err
	}
	obj, err := s.bucket(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := obj.PutBytes(ctx, name, alerts); err != nil {
		return nil, fmt.Errorf("store the alerts of notification %s (%d bytes): %w", name, len(alerts), err)
	}
	note.AlertsObject, note.Alerts = name, nil
	return json.Marshal(note)
}

// Load reads back the alerts of a notification that names an object; a
// notification that holds its alerts is left as it is.
func (s *Store) Load(ctx context.Context, note *contract.Notification) error {
	if note.AlertsObject == "" {
		return nil
	}
	obj, err := s.bucket(ctx)
	if err != nil {
		return err
	}
	data, err := obj.GetBytes(ctx, note.AlertsObject)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return fmt.Errorf("%w: %s", ErrGone, note.AlertsObject)
	}
	if err != nil {
		return fmt.Errorf("read the alerts of notification %s: %w", note.AlertsObject, err)
	}
	var alerts alert.List
	if err := json.Unmarshal(data, &alerts); err != nil {
		return fault.Final(fmt.Errorf("decode the alerts of notification %s: %w", note.AlertsObject, err))
	}
	note.Alerts = alerts
	return nil
}

// Remove deletes the object a processed notification names, if any.
func (s *Store) Remove(ctx context.Context, note *contract.Notification) error {
	if note.AlertsObject == "" {
		return nil
	}
	obj, err := s.bucket(ctx)
	if err != nil {
		return err
	}
	if err := obj.Delete(ctx, note.AlertsObject); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return fmt.Errorf("remove the alerts of notification %s: %w", note.AlertsObject, err)
	}
	return nil
}
