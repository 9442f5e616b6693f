// Package notifier is the last stage: it takes contract.Notification events
// (one flush of one aggregation group for one receiver integration) from
// klaxon.notify.>, decides from the notification log whether each must be
// sent (Alertmanager's DedupStage, package nflog), sends it through the
// receiver's integration (packages webhook, slack and email, registered in
// newIntegration; Slack and e-mail render with package template, built once
// per config revision), records it in the log (package nflogstore,
// JetStream KV; with Slack's update_message, the message to edit next time
// is kept in the entry) and only then acks.
//
// Each integration of a receiver is its own message and log entry: it is
// delivered, retried and dead-lettered on its own, so a Slack outage does
// not re-send the e-mail. Metrics are per integration type:
// klaxon_notifications_total{integration,reason},
// klaxon_notifications_failed_total{integration,reason} (reasons of
// notification.Reason*: client_error, server_error, rate_limited, template,
// config, timeout, canceled, other) and
// klaxon_notification_latency_seconds{integration}.
//
// Guarantees:
//   - A redelivered message, or an older flush of a group arriving after a
//     newer one was handled, is acked without sending (nflog.Entry.Covers).
//   - Within a process, flushes of the same group and integration are handled
//     one at a time; across replicas the log is written with compare-and-set.
//   - A send is claimed in the log before it starts (nflogstore.Claim). A
//     flush finding another flush's claim on its group waits until the
//     claim is cleared or expires (send timeout + 2s). A redelivery of the
//     message finding its own earlier delivery's claim takes over at once
//     (JetStream redelivers only when the holder stopped marking the message
//     in progress: it died): so a crash repeats at most the notifications
//     it was sending (one per group and integration, at most Concurrency),
//     and each such resend, like a send whose log write finds the flush
//     already recorded by another replica, is counted in
//     klaxon_notifications_repeated_total.
//   - Retryable send failures (network, timeout, 5xx, 429) are returned to the
//     bus (redelivery with backoff, Retry-After kept); final ones (other 4xx,
//     unknown receiver or integration, undecodable event) go to the dead-letter
//     subject klaxon.dlq.notifier.
package notifier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/klaxon-alerts/klaxon/pkg/bus"
	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/largeflush"
	"github.com/klaxon-alerts/klaxon/pkg/stage"
	"github.com/klaxon-alerts/klaxon/services/notifier/nflogstore"
)

// defaultConcurrency is how many notifications the stage works on at once.
const defaultConcurrency = 64

// Options configure the stage.
type Options struct {
	stage.Deps  // Now measures latency only
	ExternalURL string
	// Subscriber tunes the bus consumer (AckWait, MaxDeliver, Backoff,
	// Concurrency); Stream and Durable are always the notifier's.
	Subscriber bus.SubscriberConfig
	// SendTimeout bounds one send; default DefaultSendTimeout.
	SendTimeout time.Duration
}

// DefaultSendTimeout bounds one send to a receiver.
const DefaultSendTimeout = 20 * time.Second

// Notifier is the notifier stage.
type Notifier struct {
	deps         stage.Deps
	js           jetstream.JetStream
	config       func() *config.Config
	externalURL  string
	logger       *slog.Logger
	reg          prometheus.Registerer
	now          func() time.Time
	subCfg       bus.SubscriberConfig
	sendTimeout  time.Duration
	metrics      *metrics
	integrations *integrations
	locks        keyLocks
	store        *nflogstore.Store // set by Run
	large        *largeflush.Store
}

// New checks the options and registers the stage's metrics.
func New(opts Options) (*Notifier, error) {
	deps, err := opts.Resolve(contract.StageNotifier)
	if err != nil {
		return nil, err
	}
	opts.Deps = deps
	logger := opts.Logger
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	subCfg := opts.Subscriber
	subCfg.Stream = contract.StreamNotify
	subCfg.Durable = func(string) string { return contract.ConsumerNotify }
	if subCfg.Concurrency <= 0 {
		// Each send waits on the notification log's round trips and the
		// receiver; notifications of one group are serialised by locks, so
		// many in flight keep up with a burst of new groups (8 let 4,600
		// notifications queue behind a burst of 5,000 new alerts).
		subCfg.Concurrency = defaultConcurrency
	}
	sendTimeout := opts.SendTimeout
	if sendTimeout <= 0 {
		sendTimeout = DefaultSendTimeout
	}
	return &Notifier{
		deps:         deps,
		js:           opts.JS,
		config:       opts.Config,
		externalURL:  opts.ExternalURL,
		logger:       logger,
		reg:          opts.Registerer,
		now:          opts.Now,
		subCfg:       subCfg,
		sendTimeout:  sendTimeout,
		metrics:      m,
		integrations: newIntegrations(logger),
		large:        largeflush.New(opts.JS),
	}, nil
}

// Run consumes notifications until ctx is done, then shuts down in order:
// the subscription stops taking messages, in-flight messages finish (or are
// nacked), then the dead-letter publisher is closed. It returns nil when
// stopped by ctx. The streams and the nflog bucket must exist
// (streams.Provision).
func (n *Notifier) Run(ctx context.Context) error {
	store, err := nflogstore.Open(ctx, n.js, n.metrics.nflog)
	if err != nil {
		return fmt.Errorf("notifier: %w", err)
	}
	n.store = store

	dlq := bus.NewPublisher(n.js, n.logger)
	defer func() {
		if err := dlq.Close(); err != nil {
			n.logger.Warn("close dead-letter publisher", slog.Any("err", err))
		}
	}()
	return n.deps.Run(ctx, contract.StageNotifier, dlq, stage.Consumer{
		Name: contract.StageNotifier, Subject: contract.SubjectNotifyPrefix + ">", Subscriber: n.subCfg,
		Handle: func(msg *message.Message) error {
			note, err := contract.Decode[contract.Notification](msg.Payload)
			if err != nil {
				return err
			}
			ctx := msg.Context()
			if err := n.large.Load(ctx, &note); errors.Is(err, largeflush.ErrGone) {
				// Removed once processed: this is a redelivery of a
				// notification already done (or one older than the
				// bucket's TTL).
				n.logger.Warn("notification not processed: its alerts are gone", slog.String("group_key", note.GroupKey), slog.Any("err", err))
				return nil
			} else if err != nil {
				return err
			}
			seq, _ := strconv.ParseUint(msg.Metadata.Get(bus.MetaStreamSeq), 10, 64)
			if err := n.process(ctx, &note, seq); err != nil {
				return err
			}
			if err := n.large.Remove(ctx, &note); err != nil {
				n.logger.Warn("alerts of a processed notification not removed; they expire with the bucket's TTL", slog.Any("err", err))
			}
			return nil
		},
	})
}
