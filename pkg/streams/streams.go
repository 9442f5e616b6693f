// Package streams provisions Klaxon's JetStream streams and KV buckets. Every
// stage calls Provision at start; it is idempotent (create or update), so any
// replica can start first. Names come from pkg/contract.
package streams

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/klaxon-alerts/klaxon/pkg/contract"
)

// Options sizes the streams. Zero values take the defaults.
type Options struct {
	// Replicas for every stream and bucket: 1 for one node, 3 for a cluster.
	Replicas int
	// InputMaxBytes bounds the input stream; when full, publishes are refused
	// (DiscardNew) and ingest answers 429: backpressure, not loss.
	InputMaxBytes int64
	// History is how long alert changes and notifications are kept.
	History time.Duration
	// DuplicateWindow is how long a Nats-Msg-Id is remembered.
	DuplicateWindow time.Duration
}

func (o Options) withDefaults() Options {
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.InputMaxBytes == 0 {
		o.InputMaxBytes = 256 << 20
	}
	if o.History == 0 {
		o.History = 72 * time.Hour
	}
	if o.DuplicateWindow == 0 {
		o.DuplicateWindow = 2 * time.Minute
	}
	return o
}

// NflogRetention is how long a notification log entry outlives its last
// write.
const NflogRetention = 120 * time.Hour

// Configs returns the stream configurations, for Provision and for tests.
func Configs(o Options) []jetstream.StreamConfig {
	o = o.withDefaults()
	return []jetstream.StreamConfig{{
		Name:        contract.StreamInput,
		Description: "Raw alerts from ingest and direct publishers; removed once dedup acked them.",
		Subjects:    []string{contract.SubjectAlertsIn},
		Retention:   jetstream.WorkQueuePolicy,
		Discard:     jetstream.DiscardNew,
		MaxBytes:    o.InputMaxBytes,
		MaxAge:      24 * time.Hour,
		Duplicates:  o.DuplicateWindow,
		Replicas:    o.Replicas,
		Storage:     jetstream.FileStorage,
	}, {
		Name:        contract.StreamAlerts,
		Description: "Alert changes and routing decisions: replayable history.",
		Subjects:    []string{contract.SubjectAlertsChanged, contract.SubjectAlertsRouted},
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      o.History,
		Duplicates:  o.DuplicateWindow,
		Replicas:    o.Replicas,
		Storage:     jetstream.FileStorage,
	}, {
		Name:        contract.StreamTimers,
		Description: "Scheduled group flushes and alert expiries (klaxon.timers.>) and their ticks (klaxon.ticks.>).",
		Subjects: []string{
			contract.SubjectTimerGroupPrefix + ">", contract.SubjectTickGroupPrefix + ">",
			contract.SubjectTimerAlertPrefix + ">", contract.SubjectTickAlertPrefix + ">",
		},
		Retention:         jetstream.LimitsPolicy,
		AllowMsgSchedules: true,
		AllowRollup:       true,
		// A tick is worth keeping only until it is handled; one per group
		// subject bounds the stream by the number of groups.
		MaxMsgsPerSubject: 1,
		Duplicates:        o.DuplicateWindow,
		Replicas:          o.Replicas,
		Storage:           jetstream.FileStorage,
	}, {
		Name:        contract.StreamNotify,
		Description: "Notifications, one per flush and receiver integration: history.",
		Subjects:    []string{contract.SubjectNotifyPrefix + ">"},
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      o.History,
		Duplicates:  o.DuplicateWindow,
		Replicas:    o.Replicas,
		Storage:     jetstream.FileStorage,
	}, {
		Name:        contract.StreamSuppressed,
		Description: "Suppression decisions (silences, inhibition, time intervals) per flush: history.",
		Subjects:    []string{contract.SubjectSuppressedPrefix + ">"},
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      o.History,
		Duplicates:  o.DuplicateWindow,
		Replicas:    o.Replicas,
		Storage:     jetstream.FileStorage,
	}, {
		Name:        contract.StreamDLQ,
		Description: "Dead letters of every stage, with the reason.",
		Subjects:    []string{contract.SubjectDLQPrefix + ">"},
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      14 * 24 * time.Hour,
		Duplicates:  o.DuplicateWindow,
		Replicas:    o.Replicas,
		Storage:     jetstream.FileStorage,
	}}
}

// BucketConfigs returns the KV bucket configurations.
func BucketConfigs(o Options) []jetstream.KeyValueConfig {
	o = o.withDefaults()
	return []jetstream.KeyValueConfig{
		{Bucket: contract.BucketAlerts, Description: "Alert state by fingerprint.", Replicas: o.Replicas, Storage: jetstream.FileStorage},
		{Bucket: contract.BucketGroups, Description: "Aggregation groups by group id.", Replicas: o.Replicas, Storage: jetstream.FileStorage},
		// Entries not rewritten for NflogRetention expire, as Alertmanager's
		// notification log does (--data.retention, 120h).
		{Bucket: contract.BucketNflog, Description: "Notification log.", TTL: NflogRetention, Replicas: o.Replicas, Storage: jetstream.FileStorage},
		{Bucket: contract.BucketConfig, Description: "The running configuration; history keeps earlier revisions.", History: 16, Replicas: o.Replicas, Storage: jetstream.FileStorage},
		// Every revision of a silence is kept (up to the KV maximum of 64):
		// the audit trail of who created, changed and expired it.
		{Bucket: contract.BucketSilences, Description: "Silences by id; history is the audit trail.", History: 64, Replicas: o.Replicas, Storage: jetstream.FileStorage},
	}
}

// Provision creates or updates every stream and bucket.
func Provision(ctx context.Context, js jetstream.JetStream, o Options) error {
	for _, cfg := range Configs(o) {
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("provision stream %s: %w", cfg.Name, err)
		}
	}
	for _, cfg := range BucketConfigs(o) {
		var err error
		if cfg.Replicas > 1 {
			_, err = js.CreateOrUpdateStream(ctx, leaderReadStream(cfg))
		} else {
			_, err = js.CreateOrUpdateKeyValue(ctx, cfg)
		}
		if err != nil {
			return fmt.Errorf("provision bucket %s: %w", cfg.Bucket, err)
		}
	}
	return nil
}

// leaderReadStream is the stream of a replicated bucket: the stream
// nats.go's CreateKeyValue makes, except that reads go to the stream leader.
//
// A bucket made by CreateKeyValue allows direct gets, which any replica may
// answer, a follower included; on a three-node cluster under load about one
// read in eight right after an acknowledged write found nothing (measured,
// test/cluster). A stage that reads its own state back — a grouper reading
// the group its tick is for — then took a group just created for gone and
// dropped its flush. Read from the leader, a read sees every acknowledged
// write. (One replica is its own leader: such buckets keep direct gets.)
func leaderReadStream(cfg jetstream.KeyValueConfig) jetstream.StreamConfig {
	history := int64(max(cfg.History, 1))
	duplicates := 2 * time.Minute
	if cfg.TTL > 0 && cfg.TTL < duplicates {
		duplicates = cfg.TTL
	}
	maxBytes, maxValue := cfg.MaxBytes, int32(cfg.MaxValueSize)
	if maxBytes == 0 {
		maxBytes = -1
	}
	if maxValue == 0 {
		maxValue = -1
	}
	return jetstream.StreamConfig{
		Name:              "KV_" + cfg.Bucket,
		Description:       cfg.Description,
		Subjects:          []string{"$KV." + cfg.Bucket + ".>"},
		MaxMsgsPerSubject: history,
		MaxBytes:          maxBytes,
		MaxAge:            cfg.TTL,
		MaxMsgSize:        maxValue,
		Storage:           cfg.Storage,
		Replicas:          cfg.Replicas,
		Placement:         cfg.Placement,
		AllowRollup:       true,
		DenyDelete:        true,
		Duplicates:        duplicates,
		MaxMsgs:           -1,
		MaxConsumers:      -1,
		AllowDirect:       false,
		Discard:           jetstream.DiscardNew,
	}
}
