package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/dlq"
	"github.com/klaxon-alerts/klaxon/pkg/silence"
)

// deadLetter is a dead letter as the API shows it (what `klaxon dlq list
// --id` prints): the payload as text when it is UTF-8, else in base64.
type deadLetter struct {
	ID            uint64            `json:"id"`
	Stage         string            `json:"stage"`
	Subject       string            `json:"subject"`
	Reason        string            `json:"reason"`
	FailedAt      *time.Time        `json:"failedAt,omitempty"`
	StoredAt      time.Time         `json:"storedAt"`
	Headers       map[string]string `json:"headers,omitempty"`
	Payload       string            `json:"payload,omitempty"`
	PayloadBase64 []byte            `json:"payloadBase64,omitempty"`
	Error         string            `json:"error,omitempty"`
}

func toDeadLetter(l *dlq.Letter, full bool) deadLetter {
	d := deadLetter{ID: l.Seq, Stage: l.Stage, Subject: l.Subject, Reason: l.Reason, StoredAt: l.Stored.UTC()}
	if !l.FailedAt.IsZero() {
		t := l.FailedAt.UTC()
		d.FailedAt = &t
	}
	if l.Err != nil {
		d.Error = l.Err.Error()
	}
	if full {
		d.Headers = l.Headers
		if utf8.Valid(l.Payload) {
			d.Payload = string(l.Payload)
		} else {
			d.PayloadBase64 = l.Payload
		}
	}
	return d
}

// getDeadLetters is GET /api/klaxon/v1/deadletters[?stage=]: the dead
// letters (of one stage), oldest first, without their payloads.
func (srv *API) getDeadLetters(w http.ResponseWriter, r *http.Request) {
	stage := r.URL.Query().Get("stage")
	if stage != "" && !slices.Contains(contract.Stages, stage) {
		writeError(w, http.StatusBadRequest, "unknown stage "+strconv.Quote(stage))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	letters, err := srv.dlq.List(ctx, stage)
	if err != nil {
		srv.readFailed(w, "dead letters", err)
		return
	}
	out := make([]deadLetter, 0, len(letters))
	for i := range letters {
		out = append(out, toDeadLetter(&letters[i], false))
	}
	writeJSON(w, http.StatusOK, out)
}

// letterID reads the path's dead-letter id.
func letterID(w http.ResponseWriter, r *http.Request) (uint64, bool) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil || id == 0 {
		writeError(w, http.StatusBadRequest, "dead letter id must be a positive integer: "+strconv.Quote(r.PathValue("id")))
		return 0, false
	}
	return id, true
}

// getDeadLetter is GET /api/klaxon/v1/deadletters/{id}: one in full.
func (srv *API) getDeadLetter(w http.ResponseWriter, r *http.Request) {
	id, ok := letterID(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	l, err := srv.dlq.Get(ctx, id)
	switch {
	case errors.Is(err, dlq.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case err != nil:
		srv.readFailed(w, "dead letter", err)
	default:
		writeJSON(w, http.StatusOK, toDeadLetter(l, true))
	}
}

// postRedrive is POST /api/klaxon/v1/deadletters/{id}/redrive: republish
// the dead letter to its original subject and delete it (klaxon dlq
// redrive).
func (srv *API) postRedrive(w http.ResponseWriter, r *http.Request) {
	id, ok := letterID(w, r)
	if !ok {
		return
	}
	l, err := srv.dlq.Redrive(r.Context(), id)
	switch {
	case errors.Is(err, dlq.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
		return
	case errors.Is(err, dlq.ErrUndecodable):
		writeError(w, http.StatusUnprocessableEntity, err.Error())
		return
	case err != nil:
		srv.log.Error("redrive failed", "id", id, "err", err)
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	srv.log.Info("dead letter redriven", "id", id, "stage", l.Stage, "subject", l.Subject, "by", actor(r, ""))
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "stage": l.Stage, "subject": l.Subject})
}

// silenceRevision is one entry of a silence's audit trail.
type silenceRevision struct {
	Revision   uint64           `json:"revision"`
	Action     string           `json:"action"`
	By         string           `json:"by,omitempty"`
	At         time.Time        `json:"at"`
	Replaces   string           `json:"replaces,omitempty"`
	ReplacedBy string           `json:"replacedBy,omitempty"`
	Deleted    bool             `json:"deleted,omitempty"`
	Silence    *gettableSilence `json:"silence,omitempty"`
}

// getSilenceHistory is GET /api/klaxon/v1/silence/{silenceID}/history: who
// created, changed and expired the silence, oldest first, each with the
// silence as that revision stored it.
func (srv *API) getSilenceHistory(w http.ResponseWriter, r *http.Request) {
	id, ok := silenceID(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	revs, err := srv.opts.Silences.History(ctx, id)
	switch {
	case errors.Is(err, silence.ErrNotFound):
		writeError(w, http.StatusNotFound, silence.ErrNotFound.Error())
		return
	case err != nil:
		srv.readFailed(w, "silence history", err)
		return
	}
	now := srv.opts.Now()
	out := make([]silenceRevision, 0, len(revs))
	for _, rv := range revs {
		sr := silenceRevision{Revision: rv.Revision, Action: rv.Change.Action, By: rv.Change.By, At: rv.Change.At.UTC(),
			Replaces: rv.Change.Replaces, ReplacedBy: rv.Change.ReplacedBy, Deleted: rv.Deleted}
		if !rv.Deleted {
			s := toAPISilence(rv.Silence, now)
			sr.Silence = &s
		}
		out = append(out, sr)
	}
	writeJSON(w, http.StatusOK, out)
}
