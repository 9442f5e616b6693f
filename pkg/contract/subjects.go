// Package contract is the explicit contract between Klaxon's stages: every
// NATS subject, stream, consumer and KV bucket name, and the versioned event
// types that cross NATS. Nothing here imports NATS; the README's subject table
// is checked against this file by a test.
package contract

// Subjects. A stage publishes to and consumes from these only.
const (
	// SubjectAlertsIn takes one alert (JSON object) or several (JSON array)
	// in Alertmanager's postableAlert schema, from ingest or any NATS client.
	SubjectAlertsIn = "klaxon.alerts.in"
	// SubjectAlertsInPartitionPrefix + partition (0 … Partitions-1) is the
	// same input split by the alerts' fingerprints: ingest publishes there,
	// and dedup splits what direct clients publish on SubjectAlertsIn into
	// it. Each partition is consumed by its owner (pkg/lease).
	SubjectAlertsInPartitionPrefix = "klaxon.alerts.in."
	// SubjectAlertsChanged carries AlertChanged: only real changes.
	SubjectAlertsChanged = "klaxon.alerts.changed"
	// SubjectAlertsRouted + "." + partition carries AlertRouted: one event
	// per matched route, on the partition of its group (AlertsRoutedSubject).
	SubjectAlertsRouted = "klaxon.alerts.routed"
	// SubjectNotifyPrefix + integration type (IntegrationWebhook, ...)
	// carries Notification: one message per receiver integration and flush.
	SubjectNotifyPrefix = "klaxon.notify."
	// SubjectDLQPrefix + stage carries DeadLetter.
	SubjectDLQPrefix = "klaxon.dlq."
	// SubjectSuppressedPrefix + reason ("silence", "inhibition",
	// "time_interval") carries Suppressed: why alerts of a flush were not
	// notified.
	SubjectSuppressedPrefix = "klaxon.suppressed."
	// SubjectLeaseProbePrefix + replica id: core NATS request/reply, answered
	// by a live replica (pkg/lease).
	SubjectLeaseProbePrefix = "klaxon.leases.probe."
)

// Streams.
const (
	StreamInput  = "KLAXON_INPUT"  // klaxon.alerts.in: bounded work queue, DiscardNew → backpressure
	StreamAlerts = "KLAXON_ALERTS" // klaxon.alerts.changed: history, days
	// StreamRouted holds klaxon.alerts.routed.<partition>: history, days;
	// its consumers are the grouper's, one per partition.
	StreamRouted = "KLAXON_ROUTED"
	StreamNotify = "KLAXON_NOTIFY" // klaxon.notify.>: notification history, days
	StreamDLQ    = "KLAXON_DLQ"    // klaxon.dlq.>: dead letters
	// StreamSuppressed holds klaxon.suppressed.>: suppression decisions, days.
	StreamSuppressed = "KLAXON_SUPPRESSED"
)

// Durable consumers (shared by all replicas of a stage: a work queue).
const (
	ConsumerDedup   = "dedup"
	ConsumerRouter  = "router"
	ConsumerGrouper = "grouper"
	ConsumerNotify  = "notifier"
)

// KV buckets.
const (
	BucketAlerts = "klaxon-alerts" // key: fingerprint (16 hex)
	BucketGroups = "klaxon-groups" // key: group id
	BucketNflog  = "klaxon-nflog"  // key: nflogstore.Key(group key, integration)
	// BucketConfig holds the running configuration (key "running"); its
	// history keeps the previous revisions.
	BucketConfig = "klaxon-config"
	// BucketSilences holds silences by id (a UUID); its per-key history is
	// the silences' audit trail.
	BucketSilences = "klaxon-silences"
	// BucketPeers holds one key per live Klaxon process (its id), rewritten
	// on every heartbeat; a key not rewritten within the bucket's TTL is
	// gone, so the bucket lists the processes alive now (package peers).
	BucketPeers = "klaxon-peers"
	// BucketLeases holds partition leases ("<stage>.<partition>": the
	// owner's replica id) and replica heartbeats ("<stage>.replica.<id>").
	BucketLeases = "klaxon-leases"
)

// BucketFlushes is the object store of the alerts of notifications too
// large for one message (object name: the notification's message id).
const BucketFlushes = "klaxon-flushes"

// Suppression reasons, the last token of a klaxon.suppressed.<reason> subject.
const (
	ReasonSilence      = "silence"
	ReasonInhibition   = "inhibition"
	ReasonTimeInterval = "time_interval"
)

// Stage names, as used in dead-letter subjects, logs and metrics.
const (
	StageIngest   = "ingest"
	StageDedup    = "dedup"
	StageRouter   = "router"
	StageGrouper  = "grouper"
	StageNotifier = "notifier"
)

// Stages lists every stage in pipeline order.
var Stages = []string{StageIngest, StageDedup, StageRouter, StageGrouper, StageNotifier}

// NotifySubject is the subject for notifications of one integration type.
func NotifySubject(integration string) string { return SubjectNotifyPrefix + integration }

// DLQSubject is the dead-letter subject of a stage.
func DLQSubject(stage string) string { return SubjectDLQPrefix + stage }

// SuppressedSubject is where suppressions for a reason are recorded.
func SuppressedSubject(reason string) string { return SubjectSuppressedPrefix + reason }

// HeaderReceivedAt is set by ingest on klaxon.alerts.in to the time it
// received the alerts (RFC3339Nano); dedup applies Alertmanager's defaults as
// of that time. Without it (direct publishers), the JetStream timestamp is used.
const HeaderReceivedAt = "Klaxon-Received-At"

// HeaderSync marks an empty message on klaxon.alerts.in.<partition>: dedup
// acknowledges it only once every alert value it deferred (an endsAt moved
// later, pkg/alert's rules) is written, so that a read after it sees the
// latest (the API publishes one to each partition before a read).
const HeaderSync = "Klaxon-Sync"

// Row is one line of the README's subject table.
type Row struct {
	Subject string // the subject or pattern
	Stream  string
	Carries string
}

// Table lists every subject Klaxon uses, with its stream and payload; the
// README's subject table is checked against it.
func Table() []Row {
	return []Row{
		{SubjectAlertsIn, StreamInput, "Alertmanager postableAlert JSON: one object or an array"},
		{SubjectAlertsInPartitionPrefix + "<partition>", StreamInput, "the same, split by fingerprint (ingest publishes here); empty sync markers (header Klaxon-Sync) from the API"},
		{SubjectAlertsChanged, StreamAlerts, "AlertChanged"},
		{SubjectAlertsRouted + ".<partition>", StreamRouted, "AlertRouted, on its group's partition"},
		{SubjectNotifyPrefix + "<integration>", StreamNotify, "Notification"},
		{SubjectDLQPrefix + "<stage>", StreamDLQ, "DeadLetter"},
		{SubjectSuppressedPrefix + "<reason>", StreamSuppressed, "Suppressed: alerts a flush left out, and why"},
	}
}
