package kvcache

import (
	"encoding/json"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
)

// Alerts is the watched copy of the KV bucket klaxon-alerts (dedup's state)
// by fingerprint: the sources of inhibition, the API's alerts, and the
// latest state a grouper's flush judges alerts by.
type Alerts = Cache[*alert.Alert]

// NewAlerts returns the watched copy of klaxon-alerts; run it with Run.
func NewAlerts(js jetstream.JetStream, log *slog.Logger) *Alerts {
	return New(js, contract.BucketAlerts, func(e jetstream.KeyValueEntry) (*alert.Alert, error) {
		var a contract.StoredAlert
		if err := json.Unmarshal(e.Value(), &a); err != nil {
			return nil, err
		}
		return &a.Alert, nil
	}, log)
}
