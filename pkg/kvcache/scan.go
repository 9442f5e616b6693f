package kvcache

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// scanBatchBytes bounds what a Scan asks the server for at once: a bucket's
// values are pulled in batches of this many bytes (the next asked for when
// half are read), never pushed all at once. A KV watch pushes them as fast
// as the server reads them: with a few hundred thousand alerts, the watches
// of one process's stages, together beyond the server's 64 MiB of pending
// bytes per connection, got that connection closed as a slow consumer.
const scanBatchBytes = 8 << 20

// scanIdle is how long after a scan its consumer goes: it is idle only once
// the scan stopped (a pull request is always waiting while it reads).
const scanIdle = 10 * time.Second

// ErrScanInterrupted says the server's delivery of a Scan restarted (the
// connection was lost meanwhile); the caller scans again.
var ErrScanInterrupted = errors.New("bucket scan interrupted")

// Scan hands take the current value of every key of bucket once (deleted
// and purged keys are left out), in the order they were written, and
// returns the bucket revision they are current as of (0 when it has none):
// a watch resumed after it misses no change. It needs what a KV watch
// needs and $JS.API.CONSUMER.MSG.NEXT.KV_<bucket>.> to pull.
func Scan(ctx context.Context, js jetstream.JetStream, bucket string, take func(jetstream.KeyValueEntry)) (uint64, error) {
	cons, err := js.OrderedConsumer(ctx, "KV_"+bucket, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"$KV." + bucket + ".>"},
		DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
		// Stopping does not delete it: the server does once it is idle
		// this long (nats.go's default, 5 minutes, kept one per API
		// read of the groups for as long).
		InactiveThreshold: scanIdle,
	})
	if err != nil {
		return 0, fmt.Errorf("scan bucket %s: %w", bucket, err)
	}
	it, err := cons.Messages(jetstream.PullMaxBytes(scanBatchBytes))
	if err != nil {
		return 0, fmt.Errorf("scan bucket %s: %w", bucket, err)
	}
	defer it.Stop()
	if info := cons.CachedInfo(); info != nil && info.NumPending == 0 {
		// Empty: a watch resumed at revision 1 starts from whatever comes.
		return 0, nil
	}
	var delivered uint64
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return 0, fmt.Errorf("scan bucket %s: %w", bucket, err)
		}
		md, err := msg.Metadata()
		if err != nil {
			return 0, fmt.Errorf("scan bucket %s: %w", bucket, err)
		}
		// A consumer the client had to create again restarts its count
		// and no longer delivers only each key's last value.
		if delivered++; md.Sequence.Consumer != delivered {
			return 0, fmt.Errorf("%w: bucket %s", ErrScanInterrupted, bucket)
		}
		if msg.Headers().Get("KV-Operation") == "" { // not a deletion or purge
			take(scanned{bucket: bucket, key: msg.Subject()[len("$KV.")+len(bucket)+1:], value: msg.Data(), md: md})
		}
		if md.NumPending == 0 {
			return md.Sequence.Stream, nil
		}
	}
}

// scanned is a value Scan read.
type scanned struct {
	bucket, key string
	value       []byte
	md          *jetstream.MsgMetadata
}

func (e scanned) Bucket() string                  { return e.bucket }
func (e scanned) Key() string                     { return e.key }
func (e scanned) Value() []byte                   { return e.value }
func (e scanned) Revision() uint64                { return e.md.Sequence.Stream }
func (e scanned) Created() time.Time              { return e.md.Timestamp }
func (e scanned) Delta() uint64                   { return e.md.NumPending }
func (e scanned) Operation() jetstream.KeyValueOp { return jetstream.KeyValuePut }
