package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/klaxon-alerts/klaxon/pkg/silence"
)

// maxSilenceBytes bounds a posted silence.
const maxSilenceBytes = 1 << 20

type (
	silenceStatus struct {
		State string `json:"state"`
	}
	// gettableSilence is the API's silence: the stored fields and its state.
	gettableSilence struct {
		ID        string            `json:"id"`
		Status    silenceStatus     `json:"status"`
		UpdatedAt time.Time         `json:"updatedAt"`
		Matchers  []silence.Matcher `json:"matchers"`
		StartsAt  time.Time         `json:"startsAt"`
		EndsAt    time.Time         `json:"endsAt"`
		CreatedBy string            `json:"createdBy"`
		Comment   string            `json:"comment"`
	}
	// postableSilence is what clients post; pointers tell a missing
	// required field from an empty one.
	postableSilence struct {
		ID        string             `json:"id"`
		Matchers  *[]silence.Matcher `json:"matchers"`
		StartsAt  *time.Time         `json:"startsAt"`
		EndsAt    *time.Time         `json:"endsAt"`
		CreatedBy *string            `json:"createdBy"`
		Comment   *string            `json:"comment"`
	}
)

func toAPISilence(s silence.Silence, now time.Time) gettableSilence {
	ms := s.Matchers
	if ms == nil {
		ms = []silence.Matcher{}
	}
	return gettableSilence{
		ID: s.ID, Status: silenceStatus{State: string(s.State(now))}, UpdatedAt: s.UpdatedAt.UTC(),
		Matchers: ms, StartsAt: s.StartsAt.UTC(), EndsAt: s.EndsAt.UTC(), CreatedBy: s.CreatedBy, Comment: s.Comment,
	}
}

// getSilences is GET /api/v2/silences: every silence whose matchers include
// each filter matcher, active first (next to end first), then pending (next
// to start first), then expired (most recently ended first).
func (srv *API) getSilences(w http.ResponseWriter, r *http.Request) {
	filter, err := parseFilter(srv.opts.Matchers, r.URL.Query()["filter"])
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	sils, err := srv.opts.Silences.List(ctx)
	if err != nil {
		srv.readFailed(w, "silences", err)
		return
	}
	now := srv.opts.Now()
	out := []gettableSilence{}
	for _, s := range sils {
		if s.MatchesFilter(filter) {
			out = append(out, toAPISilence(s, now))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// postSilences is POST /api/v2/silences: create a silence, or change the
// one named by id (in place when Alertmanager's rules allow it, otherwise
// by expiring it and creating a new one). It answers {"silenceID": id}.
func (srv *API) postSilences(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSilenceBytes))
	if err != nil {
		writeSwaggerError(w, http.StatusBadRequest, "reading silence body: "+err.Error())
		return
	}
	var p postableSilence
	if err := json.Unmarshal(body, &p); err != nil {
		writeSwaggerError(w, http.StatusBadRequest, "parsing silence body failed: "+err.Error())
		return
	}
	// The spec's required fields and minItems, checked as Alertmanager's
	// generated server does (422).
	for field, missing := range map[string]bool{
		"matchers": p.Matchers == nil, "startsAt": p.StartsAt == nil, "endsAt": p.EndsAt == nil,
		"createdBy": p.CreatedBy == nil, "comment": p.Comment == nil,
	} {
		if missing {
			writeSwaggerError(w, http.StatusUnprocessableEntity, field+" in body is required")
			return
		}
	}
	if len(*p.Matchers) == 0 {
		writeSwaggerError(w, http.StatusUnprocessableEntity, "matchers in body should have at least 1 items")
		return
	}
	sil := silence.Silence{
		ID: p.ID, Matchers: *p.Matchers, StartsAt: *p.StartsAt, EndsAt: *p.EndsAt,
		CreatedBy: *p.CreatedBy, Comment: *p.Comment,
	}
	now := srv.opts.Now()
	if !sil.StartsAt.Before(sil.EndsAt) {
		writeError(w, http.StatusBadRequest, "Failed to create silence: start time must be before end time")
		return
	}
	if sil.EndsAt.Before(now) {
		writeError(w, http.StatusBadRequest, "Failed to create silence: end time can't be in the past")
		return
	}
	id, err := srv.opts.Silences.Set(r.Context(), sil, actor(r, sil.CreatedBy))
	switch {
	case errors.Is(err, silence.ErrNotFound):
		writeError(w, http.StatusNotFound, silence.ErrNotFound.Error())
		return
	case errors.Is(err, silence.ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		srv.log.Error("silence not stored", "err", err)
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "silence not stored: "+err.Error())
		return
	}
	srv.log.Info("silence set", "id", id, "requested_id", p.ID, "by", actor(r, sil.CreatedBy))
	writeJSON(w, http.StatusOK, map[string]string{"silenceID": id})
}

// silenceID reads the path's silence id, which must be a UUID (the spec's
// format; Alertmanager's generated server answers 422 otherwise).
func silenceID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("silenceID")
	if _, err := uuid.Parse(id); err != nil {
		writeSwaggerError(w, http.StatusUnprocessableEntity, fmt.Sprintf("silenceID in path must be of type uuid: %q", id))
		return "", false
	}
	return id, true
}

// getSilence is GET /api/v2/silence/{silenceID}.
func (srv *API) getSilence(w http.ResponseWriter, r *http.Request) {
	id, ok := silenceID(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	s, err := srv.opts.Silences.Get(ctx, id)
	switch {
	case errors.Is(err, silence.ErrNotFound):
		w.WriteHeader(http.StatusNotFound)
	case err != nil:
		srv.readFailed(w, "silence", err)
	default:
		writeJSON(w, http.StatusOK, toAPISilence(s, srv.opts.Now()))
	}
}

// deleteSilence is DELETE /api/v2/silence/{silenceID}: the silence expires
// now (it is kept, expired, until the retention passes).
func (srv *API) deleteSilence(w http.ResponseWriter, r *http.Request) {
	id, ok := silenceID(w, r)
	if !ok {
		return
	}
	err := srv.opts.Silences.Expire(r.Context(), id, actor(r, ""))
	switch {
	case errors.Is(err, silence.ErrNotFound):
		w.WriteHeader(http.StatusNotFound)
	case err != nil:
		srv.log.Error("silence not expired", "id", id, "err", err)
		writeError(w, http.StatusInternalServerError, err.Error())
	default:
		srv.log.Info("silence expired", "id", id, "by", actor(r, ""))
		w.WriteHeader(http.StatusOK)
	}
}

// actor names who made a change, for the silence's history: the user an
// authenticating proxy or basic auth names, else fallback (the silence's
// createdBy), else the client's address. Passwords are never read.
func actor(r *http.Request, fallback string) string {
	for _, h := range []string{"X-Forwarded-User", "X-Remote-User", "X-Auth-Request-User"} {
		if v := r.Header.Get(h); v != "" {
			return v
		}
	}
	if u, _, ok := r.BasicAuth(); ok && u != "" {
		return u
	}
	if fallback != "" {
		return fallback
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "anonymous@" + host
}
