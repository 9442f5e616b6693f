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
//
// Every stream and bucket is bounded in bytes; what happens at the bound
// depends on what it holds:
//   - the input stream refuses new messages (DiscardNew): ingest answers 429,
//     a direct publisher gets the error: backpressure, not loss;
//   - the history streams (alert changes, notifications, suppressions, dead
//     letters) drop their oldest messages (DiscardOld), by age or size;
//   - the KV buckets refuse new writes (DiscardNew): the stage's write fails
//     with a retryable error and its input message is redelivered until
//     there is room;
//   - the timers stream holds one schedule and one tick per group and per
//     alert (MaxMsgsPerSubject 1), so the buckets bound it.
//
// A JetStream server reserves each stream's MaxBytes from its store
// (max_file_store, by default 75% of the free disk): the defaults need
// about 2.5 GiB there.
type Options struct {
	// Replicas for every stream and bucket: 1 for one node, 3 for a cluster.
	// Provision changes the replicas of existing streams too (a cluster
	// moves the data; a single server refuses more than 1).
	Replicas int
	// PlacementTags, if any, place every stream and bucket on the servers
	// of a cluster that carry all of these server_tags.
	PlacementTags []string
	// InputMaxBytes bounds the input stream; when full, publishes are refused
	// (DiscardNew) and ingest answers 429: backpressure, not loss.
	InputMaxBytes int64
	// History is how long alert changes and notifications are kept.
	History time.Duration
	// HistoryMaxBytes bounds each history stream (alert changes,
	// notifications, suppressions, dead letters); past it the oldest
	// messages are dropped.
	HistoryMaxBytes int64
	// StateMaxBytes bounds each KV bucket; when full, writes are refused
	// with a retryable error.
	StateMaxBytes int64
	// DuplicateWindow is how long a Nats-Msg-Id is remembered.
	DuplicateWindow time.Duration
}

// Default sizes (see Options).
const (
	DefaultInputMaxBytes   = 256 << 20
	DefaultHistory         = 72 * time.Hour
	DefaultHistoryMaxBytes = 256 << 20
	DefaultStateMaxBytes   = 256 << 20
)

func (o Options) withDefaults() Options {
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.InputMaxBytes == 0 {
		o.InputMaxBytes = DefaultInputMaxBytes
	}
	if o.History == 0 {
		o.History = DefaultHistory
	}
	if o.HistoryMaxBytes == 0 {
		o.HistoryMaxBytes = DefaultHistoryMaxBytes
	}
	if o.StateMaxBytes == 0 {
		o.StateMaxBytes = DefaultStateMaxBytes
	}
	if o.DuplicateWindow == 0 {
		o.DuplicateWindow = 2 * time.Minute
	}
	return o
}

// NflogRetention is how long a notification log entry outlives its last
// write.
const NflogRetention = 120 * time.Hour

// PeersTTL is how long a peer's heartbeat keeps it listed in
// contract.BucketPeers: a process killed without leaving drops out of the
// list within this time. Heartbeats come several times within it (package
// peers).
const PeersTTL = 4 * time.Second

// PeersMaxBytes bounds contract.BucketPeers: thousands of processes.
const PeersMaxBytes = 1 << 20

// placement is where the streams and buckets go; nil: anywhere.
func (o Options) placement() *jetstream.Placement {
	if len(o.PlacementTags) == 0 {
		return nil
	}
	return &jetstream.Placement{Tags: o.PlacementTags}
}

// Configs returns the stream configurations, for Provision and for tests.
func Configs(o Options) []jetstream.StreamConfig {
	o = o.withDefaults()
	// history is a stream kept for days that drops its oldest messages at
	// its bound; the history streams are also the later stages' input.
	history := func(name, description string, maxAge time.Duration, subjects ...string) jetstream.StreamConfig {
		return jetstream.StreamConfig{
			Name: name, Description: description, Subjects: subjects,
			Retention: jetstream.LimitsPolicy, Discard: jetstream.DiscardOld,
			MaxBytes: o.HistoryMaxBytes, MaxAge: maxAge,
			Duplicates: o.DuplicateWindow, Replicas: o.Replicas, Storage: jetstream.FileStorage,
		}
	}
	cfgs := []jetstream.StreamConfig{{
		Name:        contract.StreamInput,
		Description: "Raw alerts from ingest and direct publishers, by partition; removed once dedup acked them.",
		Subjects:    []string{contract.SubjectAlertsIn, contract.SubjectAlertsInPartitionPrefix + "*"},
		Retention:   jetstream.WorkQueuePolicy,
		Discard:     jetstream.DiscardNew,
		MaxBytes:    o.InputMaxBytes,
		MaxAge:      24 * time.Hour,
		Duplicates:  o.DuplicateWindow,
		Replicas:    o.Replicas,
		Storage:     jetstream.FileStorage,
	},
		history(contract.StreamAlerts, "Alert changes: replayable history.", o.History, contract.SubjectAlertsChanged),
		history(contract.StreamRouted, "Routing decisions by group partition: replayable history.", o.History, contract.SubjectAlertsRouted+".*"),
		history(contract.StreamNotify, "Notifications, one per flush and receiver integration: history.", o.History, contract.SubjectNotifyPrefix+">"),
		history(contract.StreamSuppressed, "Suppression decisions (silences, inhibition, time intervals) per flush: history.", o.History, contract.SubjectSuppressedPrefix+">"),
		history(contract.StreamDLQ, "Dead letters of every stage, with the reason.", 14*24*time.Hour, contract.SubjectDLQPrefix+">"),
	}
	for i := range cfgs {
		cfgs[i].Placement = o.placement()
	}
	return cfgs
}

// BucketConfigs returns the KV bucket configurations. A bucket refuses
// writes when full (KV buckets are DiscardNew).
func BucketConfigs(o Options) []jetstream.KeyValueConfig {
	o = o.withDefaults()
	cfgs := []jetstream.KeyValueConfig{
		{Bucket: contract.BucketAlerts, Description: "Alert state by fingerprint, written behind by each partition's dedup owner.", Replicas: o.Replicas, Storage: jetstream.FileStorage},
		{Bucket: contract.BucketGroups, Description: "Aggregation groups by group id.", Replicas: o.Replicas, Storage: jetstream.FileStorage},
		// Entries not rewritten for NflogRetention expire, as Alertmanager's
		// notification log does (--data.retention, 120h).
		{Bucket: contract.BucketNflog, Description: "Notification log.", TTL: NflogRetention, Replicas: o.Replicas, Storage: jetstream.FileStorage},
		{Bucket: contract.BucketConfig, Description: "The running configuration; history keeps earlier revisions.", History: 16, Replicas: o.Replicas, Storage: jetstream.FileStorage},
		// Partition owners and replicas (pkg/lease); kept small, no history.
		{Bucket: contract.BucketLeases, Description: "Partition leases and stage replicas.", Replicas: o.Replicas, Storage: jetstream.FileStorage},
		// Every revision of a silence is kept (up to the KV maximum of 64):
		// the audit trail of who created, changed and expired it.
		{Bucket: contract.BucketSilences, Description: "Silences by id; history is the audit trail.", History: 64, Replicas: o.Replicas, Storage: jetstream.FileStorage},
		// Liveness, not data: kept in memory, each key gone PeersTTL after
		// its last heartbeat.
		{Bucket: contract.BucketPeers, Description: "Live Klaxon processes, one key each, by heartbeat.", TTL: PeersTTL, Replicas: o.Replicas, Storage: jetstream.MemoryStorage},
	}
	for i := range cfgs {
		cfgs[i].MaxBytes = o.StateMaxBytes
		if cfgs[i].Bucket == contract.BucketPeers {
			// A memory bucket reserves its MaxBytes on the server: the
			// peers need little (a few hundred bytes per process).
			cfgs[i].MaxBytes = PeersMaxBytes
		}
		cfgs[i].Placement = o.placement()
	}
	return cfgs
}

// FlushesTTL is how long the alerts of a large notification stay in
// contract.BucketFlushes when its notifier does not remove them (it does,
// once it processed the notification): long enough for a dead letter to be
// looked at and redriven.
const FlushesTTL = 24 * time.Hour

// FlushesStream is the stream of the object store contract.BucketFlushes
// (pkg/largeflush), as nats.go's CreateObjectStore makes it, except that a
// replicated one is read from its leader (see leaderReadStream): the
// notifier reads an object right after the grouper stored it.
func FlushesStream(o Options) jetstream.StreamConfig {
	o = o.withDefaults()
	b := contract.BucketFlushes
	return jetstream.StreamConfig{
		Name:        "OBJ_" + b,
		Description: "The alerts of notifications too large for one message, until the notifier processed them.",
		Subjects:    []string{"$O." + b + ".C.>", "$O." + b + ".M.>"},
		MaxAge:      FlushesTTL,
		MaxBytes:    o.StateMaxBytes,
		Storage:     jetstream.FileStorage,
		Replicas:    o.Replicas,
		Placement:   o.placement(),
		Discard:     jetstream.DiscardNew,
		AllowRollup: true,
		AllowDirect: o.Replicas <= 1,
		MaxMsgs:     -1,
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
	if _, err := js.CreateOrUpdateStream(ctx, FlushesStream(o)); err != nil {
		return fmt.Errorf("provision object store %s: %w", contract.BucketFlushes, err)
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
