package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/kvcache"
	"github.com/klaxon-alerts/klaxon/pkg/peers"
	"github.com/klaxon-alerts/klaxon/pkg/version"
)

type (
	alertmanagerStatus struct {
		Cluster     clusterStatus `json:"cluster"`
		VersionInfo versionInfo   `json:"versionInfo"`
		Config      struct {
			Original string `json:"original"`
		} `json:"config"`
		Uptime time.Time `json:"uptime"`
	}
	clusterStatus struct {
		Name   string       `json:"name,omitempty"`
		Status string       `json:"status"`
		Peers  []peerStatus `json:"peers"`
	}
	peerStatus struct {
		Name    string `json:"name"`
		Address string `json:"address"`
	}
	versionInfo struct {
		Version   string `json:"version"`
		Revision  string `json:"revision"`
		Branch    string `json:"branch"`
		BuildUser string `json:"buildUser"`
		BuildDate string `json:"buildDate"`
		GoVersion string `json:"goVersion"`
	}
)

// getStatus is GET /api/v2/status: the running config (the file as loaded,
// secrets masked), the build, the process's start, and the cluster: the
// live Klaxon processes.
func (srv *API) getStatus(w http.ResponseWriter, r *http.Request) {
	var st alertmanagerStatus
	st.Config.Original = redactedOriginal(srv.opts.Config())
	v := version.AsAlertmanager()
	st.VersionInfo = versionInfo{Version: v.Version, Revision: v.Revision, Branch: v.Branch, BuildUser: v.BuildUser, BuildDate: v.BuildDate, GoVersion: v.GoVersion}
	st.Uptime = srv.started.UTC()
	st.Cluster = srv.cluster(r.Context())
	writeJSON(w, http.StatusOK, st)
}

// getReceivers is GET /api/v2/receivers: the configured receivers' names.
func (srv *API) getReceivers(w http.ResponseWriter, _ *http.Request) {
	cfg := srv.opts.Config()
	out := make([]apiReceiver, 0, len(cfg.Receivers))
	for _, r := range cfg.Receivers {
		out = append(out, apiReceiver{Name: r.Name})
	}
	writeJSON(w, http.StatusOK, out)
}

// cluster is the status's cluster: the live Klaxon processes (one peer
// each, by its heartbeat in the peers bucket), "ready" when every stage
// has a live replica among them, "settling" while one has none or the
// list cannot be read.
func (srv *API) cluster(ctx context.Context) clusterStatus {
	cs := clusterStatus{Name: srv.opts.PeerName, Status: "disabled", Peers: []peerStatus{}}
	if srv.opts.Peers == nil {
		return cs
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	list, err := peers.List(ctx, srv.opts.JS, srv.opts.Peers)
	if err != nil {
		srv.log.Warn("listing the peers failed", "err", err)
		cs.Status = "settling"
		return cs
	}
	for _, p := range list {
		cs.Peers = append(cs.Peers, peerStatus{Name: p.Name, Address: p.Address})
	}
	cs.Status = "ready"
	if len(peers.Missing(list, contract.Stages)) > 0 {
		cs.Status = "settling"
	}
	return cs
}

// writeJSON answers with a JSON body; API answers are never cached.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers with a JSON string, as Alertmanager's handlers do.
func writeError(w http.ResponseWriter, code int, msg string) { writeJSON(w, code, msg) }

// writeSwaggerError answers as Alertmanager's generated server does when a
// request does not fit the spec: {"code": …, "message": …}.
func writeSwaggerError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]any{"code": code, "message": msg})
}

// readFailed answers a read that could not be served: 503 while the
// watched copies are not synced yet (or NATS is away), 500 otherwise.
func (srv *API) readFailed(w http.ResponseWriter, what string, err error) {
	if errors.Is(err, kvcache.ErrNotSynced) || errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrTimeout) {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, what+" not available yet: "+err.Error())
		return
	}
	srv.log.Error("read failed", "what", what, "err", err)
	writeError(w, http.StatusInternalServerError, err.Error())
}
