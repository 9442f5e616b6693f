// Package api is Alertmanager's HTTP API v2 for reading alerts and groups
// and for silences (GET /api/v2/alerts, /alerts/groups, /silences, /status,
// /receivers; POST and DELETE of silences), and Klaxon's own reads under
// /api/klaxon/v1 (history of an alert or group, a silence's audit trail,
// dead letters with redrive). It answers from watched copies
// of the KV buckets (dedup's alerts, the grouper's groups, the silences), so
// any number of replicas give the same answers. Storing alerts (POST
// /api/v2/alerts) is the ingest stage's: the write path.
package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/dlq"
	"github.com/klaxon-alerts/klaxon/pkg/kvcache"
	"github.com/klaxon-alerts/klaxon/pkg/matcher"
	"github.com/klaxon-alerts/klaxon/pkg/mute"
	"github.com/klaxon-alerts/klaxon/pkg/route"
	"github.com/klaxon-alerts/klaxon/pkg/silencestore"
)

// Options configures the API.
type Options struct {
	JS     jetstream.JetStream
	Logger *slog.Logger
	Now    func() time.Time
	// Config is the running config.
	Config   func() *config.Config
	Silences *silencestore.Silences
	Alerts   *kvcache.Alerts
	Muter    *mute.Muter
	// Peers is the bucket of live Klaxon processes (package peers), shown
	// as the cluster in /api/v2/status; PeerName is this process's name
	// there. Without Peers the status says the cluster is "disabled".
	Peers    jetstream.KeyValue
	PeerName string
	// Matchers is how the filter parameters' matchers parse
	// (--enable-feature).
	Matchers matcher.Mode
	// Registerer, if set, gets alertmanager_alerts{state}.
	Registerer prometheus.Registerer
}

// API serves the read and silence endpoints.
type API struct {
	opts    Options
	log     *slog.Logger
	started time.Time
	trees   route.Memo
	dlq     *dlq.Queue
}

// New builds the API; mount it with Register.
func New(opts Options) (*API, error) {
	if opts.JS == nil || opts.Config == nil || opts.Silences == nil || opts.Alerts == nil || opts.Muter == nil {
		return nil, errors.New("api: JS, Config, Silences, Alerts and Muter are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	srv := &API{opts: opts, log: opts.Logger.With("component", "api"), started: opts.Now(), dlq: dlq.New(opts.JS)}
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(newAlertsCollector(srv)); err != nil {
			return nil, fmt.Errorf("api metrics: %w", err)
		}
	}
	return srv, nil
}

// Register mounts the API on mux.
func (srv *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v2/alerts", srv.getAlerts)
	mux.HandleFunc("GET /api/v2/alerts/groups", srv.getAlertGroups)
	mux.HandleFunc("GET /api/v2/silences", srv.getSilences)
	mux.HandleFunc("POST /api/v2/silences", srv.postSilences)
	mux.HandleFunc("GET /api/v2/silence/{silenceID}", srv.getSilence)
	mux.HandleFunc("DELETE /api/v2/silence/{silenceID}", srv.deleteSilence)
	mux.HandleFunc("GET /api/v2/status", srv.getStatus)
	mux.HandleFunc("GET /api/v2/receivers", srv.getReceivers)
	// Klaxon's own: what Alertmanager has no API for.
	mux.HandleFunc("GET /api/klaxon/v1/history", srv.getHistory)
	mux.HandleFunc("GET /api/klaxon/v1/silence/{silenceID}/history", srv.getSilenceHistory)
	mux.HandleFunc("GET /api/klaxon/v1/deadletters", srv.getDeadLetters)
	mux.HandleFunc("GET /api/klaxon/v1/deadletters/{id}", srv.getDeadLetter)
	mux.HandleFunc("POST /api/klaxon/v1/deadletters/{id}/redrive", srv.postRedrive)
}
