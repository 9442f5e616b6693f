package contract

import (
	"hash/fnv"
	"strconv"
)

// Partitions is the number of partitions of the input subjects: fixed when
// the streams are created and larger than any replica count. A partition is
// owned by one replica of a stage at a time (pkg/lease), which holds its
// state in memory.
const Partitions = 64

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
