package api

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/klaxon-alerts/klaxon/pkg/contract"
)

// readYourWritesTimeout bounds how long a read waits for dedup to take in
// what was stored before it; past it (a backlog) the read answers from what
// dedup has taken in so far.
const readYourWritesTimeout = 5 * time.Second

// caughtUp waits until dedup has processed every alert stored on the input
// stream before the call and the watched copy of its alerts holds the
// result, so that a GET after a POST answered 200 lists that POST's alerts,
// as on Alertmanager (which stores a POST before it answers). It reports
// whether it got there within readYourWritesTimeout; a failure to ask NATS
// is an error.
func (srv *API) caughtUp(ctx context.Context) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, readYourWritesTimeout)
	defer cancel()
	if err := srv.sync(ctx); err != nil {
		return false, err
	}
	stream, err := srv.opts.JS.Stream(ctx, contract.StreamInput)
	if err != nil {
		return false, fmt.Errorf("stream %s: %w", contract.StreamInput, err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return false, fmt.Errorf("stream %s: %w", contract.StreamInput, err)
	}
	stored := info.State.LastSeq
	// The input is a work queue and dedup acknowledges an input only after
	// its state is written, a sync marker only after every value it
	// deferred: once no message up to the last stored sequence is left,
	// every state is in the bucket. Polled: JetStream has no notification
	// for it.
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		if info.State.Msgs == 0 || info.State.FirstSeq > stored {
			break
		}
		select {
		case <-ctx.Done():
			return false, nil
		case <-time.After(delay):
		}
		if info, err = stream.Info(ctx); err != nil {
			if ctx.Err() != nil {
				return false, nil
			}
			return false, fmt.Errorf("stream %s: %w", contract.StreamInput, err)
		}
	}
	kv, err := srv.opts.JS.KeyValue(ctx, contract.BucketAlerts)
	if err != nil {
		return false, fmt.Errorf("bucket %s: %w", contract.BucketAlerts, err)
	}
	status, err := kv.Status(ctx)
	if err != nil {
		return false, fmt.Errorf("bucket %s: %w", contract.BucketAlerts, err)
	}
	bucket, ok := status.(*jetstream.KeyValueBucketStatus)
	if !ok {
		return false, fmt.Errorf("bucket %s: status %T has no stream sequence", contract.BucketAlerts, status)
	}
	// The bucket's last stream sequence is its latest revision.
	if err := srv.opts.Alerts.WaitRevision(ctx, bucket.StreamInfo().State.LastSeq); err != nil {
		return false, nil
	}
	return true, nil
}

// sync publishes a sync marker to each of dedup's partitions (see
// contract.HeaderSync) and waits until they are stored.
func (srv *API) sync(ctx context.Context) error {
	acks := make([]jetstream.PubAckFuture, 0, contract.Partitions)
	for p := range contract.Partitions {
		m := nats.NewMsg(contract.AlertsInSubject(p))
		m.Header.Set(contract.HeaderSync, "1")
		ack, err := srv.opts.JS.PublishMsgAsync(m)
		if err != nil {
			return fmt.Errorf("sync marker: %w", err)
		}
		acks = append(acks, ack)
	}
	for _, ack := range acks {
		select {
		case <-ack.Ok():
		case err := <-ack.Err():
			return fmt.Errorf("sync marker: %w", err)
		case <-ctx.Done():
			return fmt.Errorf("sync marker: %w", ctx.Err())
		}
	}
	return nil
}
