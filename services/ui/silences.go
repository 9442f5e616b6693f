package ui

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/klaxon-alerts/klaxon/pkg/matcher"
	"github.com/klaxon-alerts/klaxon/pkg/silence"
)

// apiSilence is API v2's gettableSilence.
type apiSilence struct {
	ID     string `json:"id"`
	Status struct {
		State string `json:"state"`
	} `json:"status"`
	UpdatedAt time.Time         `json:"updatedAt"`
	Matchers  []silence.Matcher `json:"matchers"`
	StartsAt  time.Time         `json:"startsAt"`
	EndsAt    time.Time         `json:"endsAt"`
	CreatedBy string            `json:"createdBy"`
	Comment   string            `json:"comment"`
}

// MatchersString is the silence's matchers in amtool's syntax.
func (s apiSilence) MatchersString() string { return matchersString(s.Matchers) }

func matchersString(sms []silence.Matcher) string {
	ms := make(matcher.Matchers, 0, len(sms))
	for _, m := range sms {
		mm, err := matcher.New(m.Type(), m.Name, m.Value)
		if err != nil {
			continue
		}
		ms = append(ms, mm)
	}
	return ms.String()
}

// silenceStates are the tabs of the silences page, in the API's order.
var silenceStates = []string{"active", "pending", "expired"}

type silencesData struct {
	State  string
	States []string
	Counts map[string]int
	List   []apiSilence
}

// silencesPage lists the silences of one state (active by default).
func (u *UI) silencesPage(w http.ResponseWriter, r *http.Request) {
	d := silencesData{State: r.URL.Query().Get("state"), States: silenceStates, Counts: map[string]int{}}
	if !slices.Contains(silenceStates, d.State) {
		d.State = "active"
	}
	var all []apiSilence
	if err := u.call(r, http.MethodGet, "/api/v2/silences", nil, nil, &all); err != nil {
		u.fail(w, r, err)
		return
	}
	for _, s := range all {
		d.Counts[s.Status.State]++
		if s.Status.State == d.State {
			d.List = append(d.List, s)
		}
	}
	u.render(w, r, http.StatusOK, "silences", "Silences", d)
}

type silenceFormData struct {
	ID, Matchers, StartsAt, EndsAt, CreatedBy, Comment string
	Error                                              string
}

const formTime = time.RFC3339

// silenceForm is the form to create a silence (matchers pre-filled from
// ?matchers=, e.g. an alert's labels) or, at /silences/{id}/edit, to change
// one.
func (u *UI) silenceForm(w http.ResponseWriter, r *http.Request) {
	now := u.opts.Now().UTC().Truncate(time.Second)
	d := silenceFormData{Matchers: r.URL.Query().Get("matchers"), StartsAt: now.Format(formTime),
		EndsAt: now.Add(2 * time.Hour).Format(formTime), CreatedBy: who(r)}
	if id := r.PathValue("id"); id != "" {
		var s apiSilence
		if err := u.call(r, http.MethodGet, "/api/v2/silence/"+url.PathEscape(id), nil, nil, &s); err != nil {
			u.fail(w, r, err)
			return
		}
		d = silenceFormData{ID: s.ID, Matchers: s.MatchersString(), StartsAt: s.StartsAt.UTC().Format(formTime),
			EndsAt: s.EndsAt.UTC().Format(formTime), CreatedBy: s.CreatedBy, Comment: s.Comment}
	}
	title := "New silence"
	if d.ID != "" {
		title = "Edit silence"
	}
	u.render(w, r, http.StatusOK, "silence_form", title, d)
}

// who is the caller as the API would name them, to pre-fill createdBy.
func who(r *http.Request) string {
	for _, h := range identityHeaders[1:] {
		if v := r.Header.Get(h); v != "" {
			return v
		}
	}
	if u, _, ok := r.BasicAuth(); ok {
		return u
	}
	return ""
}

// parseSilenceMatchers reads the form's matchers (amtool's syntax).
func parseSilenceMatchers(s string) ([]silence.Matcher, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("matchers: at least one is needed")
	}
	ms, err := matcher.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("matchers: %w", err)
	}
	out := make([]silence.Matcher, 0, len(ms))
	for _, m := range ms {
		out = append(out, silence.FromMatcher(m))
	}
	return out, nil
}

type previewData struct {
	Error  string
	Alerts []apiAlert
}

// silencePreview is the form's live part: the alerts (not resolved) the
// silence would match now.
func (u *UI) silencePreview(w http.ResponseWriter, r *http.Request) {
	var d previewData
	sms, err := parseSilenceMatchers(r.URL.Query().Get("matchers"))
	var ms matcher.Matchers
	if err == nil {
		sil := silence.Silence{Matchers: sms}
		ms, err = sil.Compile()
	}
	if err != nil {
		d.Error = err.Error()
	} else {
		var alerts []apiAlert
		if err := u.call(r, http.MethodGet, "/api/v2/alerts", nil, nil, &alerts); err != nil {
			d.Error = err.Error()
		}
		for _, a := range alerts {
			if ms.Matches(a.Labels) {
				d.Alerts = append(d.Alerts, a)
			}
		}
	}
	u.fragment(w, "silence_form", "preview", d)
}

// silenceSubmit posts the form to POST /api/v2/silences; on success the
// browser goes to the silence's page, otherwise the form shows the error.
func (u *UI) silenceSubmit(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
		return
	}
	d := silenceFormData{ID: r.PostForm.Get("id"), Matchers: r.PostForm.Get("matchers"), StartsAt: r.PostForm.Get("startsAt"),
		EndsAt: r.PostForm.Get("endsAt"), CreatedBy: r.PostForm.Get("createdBy"), Comment: r.PostForm.Get("comment")}
	body, err := d.postable()
	if err == nil {
		var res struct {
			SilenceID string `json:"silenceID"`
		}
		if err = u.call(r, http.MethodPost, "/api/v2/silences", nil, body, &res); err == nil {
			u.redirect(w, r, "/silences/"+url.PathEscape(res.SilenceID))
			return
		}
	}
	d.Error = err.Error()
	u.render(w, r, http.StatusBadRequest, "silence_form", "Silence not saved", d)
}

// postable is the form as API v2's postableSilence.
func (d silenceFormData) postable() (map[string]any, error) {
	ms, err := parseSilenceMatchers(d.Matchers)
	if err != nil {
		return nil, err
	}
	start, err := time.Parse(formTime, strings.TrimSpace(d.StartsAt))
	if err != nil {
		return nil, fmt.Errorf("start: want a time like 2026-01-02T15:04:05Z: %w", err)
	}
	end, err := time.Parse(formTime, strings.TrimSpace(d.EndsAt))
	if err != nil {
		return nil, fmt.Errorf("end: want a time like 2026-01-02T15:04:05Z: %w", err)
	}
	if strings.TrimSpace(d.CreatedBy) == "" {
		return nil, errors.New("created by: say who you are")
	}
	if strings.TrimSpace(d.Comment) == "" {
		return nil, errors.New("comment: say why")
	}
	p := map[string]any{"matchers": ms, "startsAt": start, "endsAt": end, "createdBy": d.CreatedBy, "comment": d.Comment}
	if d.ID != "" {
		p["id"] = d.ID
	}
	return p, nil
}

// apiRevision is /api/klaxon/v1/silence/{id}/history's entry.
type apiRevision struct {
	Revision   uint64      `json:"revision"`
	Action     string      `json:"action"`
	By         string      `json:"by"`
	At         time.Time   `json:"at"`
	Replaces   string      `json:"replaces"`
	ReplacedBy string      `json:"replacedBy"`
	Deleted    bool        `json:"deleted"`
	Silence    *apiSilence `json:"silence"`
}

type silenceData struct {
	Silence apiSilence
	History []apiRevision
	Muting  []apiAlert
}

// silencePage is one silence: its fields, the alerts it mutes now, and its
// audit trail.
func (u *UI) silencePage(w http.ResponseWriter, r *http.Request) {
	id := url.PathEscape(r.PathValue("id"))
	var d silenceData
	if err := u.call(r, http.MethodGet, "/api/v2/silence/"+id, nil, nil, &d.Silence); err != nil {
		u.fail(w, r, err)
		return
	}
	if err := u.call(r, http.MethodGet, "/api/klaxon/v1/silence/"+id+"/history", nil, nil, &d.History); err != nil {
		u.fail(w, r, err)
		return
	}
	var alerts []apiAlert
	if err := u.call(r, http.MethodGet, "/api/v2/alerts", nil, nil, &alerts); err != nil {
		u.fail(w, r, err)
		return
	}
	for _, a := range alerts {
		if slices.Contains(a.Status.SilencedBy, d.Silence.ID) {
			d.Muting = append(d.Muting, a)
		}
	}
	u.render(w, r, http.StatusOK, "silence", "Silence "+d.Silence.ID, d)
}

// silenceExpire is the expire button: DELETE /api/v2/silence/{id}.
func (u *UI) silenceExpire(w http.ResponseWriter, r *http.Request) {
	id := url.PathEscape(r.PathValue("id"))
	if err := u.call(r, http.MethodDelete, "/api/v2/silence/"+id, nil, nil, nil); err != nil {
		u.fail(w, r, err)
		return
	}
	u.redirect(w, r, "/silences/"+id)
}

// fragment writes one template of a page alone (an htmx swap).
func (u *UI) fragment(w http.ResponseWriter, pageName, tmpl string, data any) {
	var buf bytes.Buffer
	if err := u.pages[pageName].ExecuteTemplate(&buf, tmpl, page{Prefix: u.opts.Prefix, Data: data}); err != nil {
		u.log.Error("render", "page", pageName, "template", tmpl, "err", err)
		http.Error(w, "rendering failed: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = buf.WriteTo(w)
}
