package contract

import (
	"crypto/sha256"
	"encoding/hex"
	"hash/fnv"
	"strconv"
)

// Partitions is the number of partitions of the input subjects: fixed when
// the streams are created, and the most replicas of dedup or the grouper
// that share work. A partition is owned by one replica of a stage at a time
// (pkg/lease), which holds its state in memory. Each partition costs a
// message per request (ingest publishes one per partition a request's
// alerts fall into): 64 made a Prometheus POST of 64 alerts about 40
// messages and doubled ingest's latency; 8 keep it near one per 8 alerts.
const Partitions = 8

// PartitionOf is the partition of a key: an alert's fingerprint (16 hex
// digits) for dedup. Ingest and dedup must agree on it, so it is part of
// the contract.
func PartitionOf(key string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % Partitions)
}

// AlertsInSubject is the input subject of partition p.
func AlertsInSubject(p int) string { return SubjectAlertsInPartitionPrefix + strconv.Itoa(p) }

// ConsumerDedupPartition is the durable consumer of dedup's partition p,
// used by its owner alone.
func ConsumerDedupPartition(p int) string { return ConsumerDedup + "-" + strconv.Itoa(p) }

// LeaseProbeSubject is where the replica id answers while it is alive; a
// request that finds no responder means the replica is gone (pkg/lease).
func LeaseProbeSubject(id string) string { return SubjectLeaseProbePrefix + id }

// GroupID is an aggregation group's id: its KV key and the key of its
// partition (the grouper's).
func GroupID(routeID, groupKey string) string {
	sum := sha256.Sum256([]byte(routeID + "\x00" + groupKey))
	return hex.EncodeToString(sum[:16])
}

// AlertsRoutedSubject is the routed subject of the grouper's partition p:
// that of the alert's group (PartitionOf its GroupID).
func AlertsRoutedSubject(p int) string { return SubjectAlertsRouted + "." + strconv.Itoa(p) }

// ConsumerGrouperPartition is the durable consumer of the grouper's
// partition p, used by its owner alone.
func ConsumerGrouperPartition(p int) string { return ConsumerGrouper + "-" + strconv.Itoa(p) }

// GroupNotifiedKey ends the klaxon-groups key "<group id>.notified", which
// holds the notification-log state of a group's last notification. The
// bucket's other keys are "<group id>" (the group's route and timing) and
// "<group id>.<fingerprint>" (one of its alerts): no value grows with the
// alerts of a group but this one, written only when a flush notifies.
const GroupNotifiedKey = "notified"
