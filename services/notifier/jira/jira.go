// Package jira is the Jira integration: the group's issue is created on
// its first notification, updated while the group fires and transitioned
// once it is resolved.
//
// As Alertmanager: the issue carries the label ALERT{<group key hash>};
// the issue is found by a JQL search on that label in the project (open
// issues; with reopen_transition and reopen_duration also those resolved
// within the duration; never those resolved as wont_fix_resolution),
// newest first; a resolved group with no issue creates none; an update
// leaves out the summary or description whose enable_update is false; a
// resolved group's open issue takes resolve_transition, a firing group's
// done issue reopen_transition. The summary is cut to 255 runes, the
// description to 32767; with an API v3 URL the description must render to
// JSON (Atlassian Document Format). Search uses /search/jql (API v3) for
// cloud (auto: *.atlassian.net) and /search otherwise.
//
// Klaxon also keeps the issue's key in the notification log (as Slack's
// message): a later notification, from any replica or after a restart,
// reads that issue first and searches only when it is gone or no longer
// the group's issue. Failures: 4xx final with Jira's errorMessages/errors,
// 429, 5xx and network errors retried.
package jira

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/services/notifier/delivery"
	"github.com/klaxon-alerts/klaxon/services/notifier/notification"
	"github.com/klaxon-alerts/klaxon/services/notifier/template"
)

const (
	maxSummaryRunes     = 255
	maxDescriptionRunes = 32767
)

// Notifier sends notifications to one Jira configuration.
type Notifier struct {
	cfg    *config.JiraConfig
	tmpl   *template.Template
	logger *slog.Logger
	client *delivery.Client
	now    func() time.Time
}

var policy = delivery.Policy{Name: "jira", Detail: errorDetail}

// New returns a notifier for cfg (validated, global fallbacks applied by
// package config) rendering with tmpl.
func New(cfg *config.JiraConfig, tmpl *template.Template, logger *slog.Logger) (*Notifier, error) {
	if cfg.APIURL == nil || cfg.APIURL.URL == nil {
		return nil, fmt.Errorf("jira: no api_url")
	}
	client, err := delivery.NewClient(policy, cfg.HTTPConfig)
	if err != nil {
		return nil, err
	}
	return &Notifier{cfg: cfg, tmpl: tmpl, logger: logger, client: client, now: time.Now}, nil
}

// issue is the part of a Jira issue read back.
type issue struct {
	Key    string `json:"key"`
	Fields struct {
		Status *struct {
			StatusCategory struct {
				Key string `json:"key"`
			} `json:"statusCategory"`
		} `json:"status"`
		Resolution *struct {
			Name string `json:"name"`
		} `json:"resolution"`
		ResolutionDate string   `json:"resolutiondate"`
		Labels         []string `json:"labels"`
	} `json:"fields"`
}

func (i *issue) done() bool {
	return i.Fields.Status != nil && i.Fields.Status.StatusCategory.Key == "done"
}

// Notify delivers the notification (see NotifyMessage).
func (n *Notifier) Notify(ctx context.Context, nt *notification.Notification) (bool, error) {
	_, retryable, err := n.NotifyMessage(ctx, nt)
	return retryable, err
}

// NotifyMessage creates, updates or transitions the group's issue and
// returns its key for the notification log (nil when there is none).
func (n *Notifier) NotifyMessage(ctx context.Context, nt *notification.Notification) (*notification.Message, bool, error) {
	data := nt.Data()
	firing := len(data.Alerts.Firing()) > 0
	label := "ALERT{" + nt.KeyHash() + "}"
	fields, project, err := n.fields(data, label)
	if err != nil {
		return nil, false, notification.Failed(notification.ReasonTemplate, err)
	}
	existing, retryable, err := n.find(ctx, nt.Message, project, label, firing)
	if err != nil {
		return nil, retryable, fmt.Errorf("look up the group's issue: %w", err)
	}
	if existing == nil {
		if !firing {
			return nil, false, nil // no issue for a group that only resolved
		}
		answer, retryable, err := n.do(ctx, http.MethodPost, n.cfg.APIURL.JoinPath("issue"), map[string]any{"fields": fields})
		if err != nil {
			return nil, retryable, fmt.Errorf("create issue: %w", err)
		}
		var created issue
		if err := json.Unmarshal(answer, &created); err != nil || created.Key == "" {
			return nil, true, notification.Failed(notification.ReasonServerError, errors.New("jira's answer to the new issue has no key"))
		}
		n.logger.DebugContext(ctx, "jira issue created", slog.String("receiver", nt.Receiver), slog.String("issue", created.Key))
		return &notification.Message{Channel: project, ID: created.Key}, false, nil
	}
	sent := &notification.Message{Channel: project, ID: existing.Key}
	if !n.cfg.Summary.Updates() {
		delete(fields, "summary")
	}
	if !n.cfg.Description.Updates() {
		delete(fields, "description")
	}
	if _, retryable, err := n.do(ctx, http.MethodPut, n.cfg.APIURL.JoinPath("issue", existing.Key), map[string]any{"fields": fields}); err != nil {
		return sent, retryable, fmt.Errorf("update issue %s: %w", existing.Key, err)
	}
	retryable, err = n.transition(ctx, existing, firing)
	return sent, retryable, err
}

// fields renders the issue's fields.
func (n *Notifier) fields(data *notification.Data, label string) (map[string]any, string, error) {
	c := n.cfg
	r := n.tmpl.Renderer(data)
	project := r.Text("project", c.Project)
	summary, _ := delivery.TruncateRunes(r.Text("summary", c.Summary.Template), maxSummaryRunes)
	description, _ := delivery.TruncateRunes(r.Text("description", c.Description.Template), maxDescriptionRunes)
	labels := []string{label}
	for i, l := range c.Labels {
		labels = append(labels, r.Text(fmt.Sprintf("labels[%d]", i), l))
	}
	slices.Sort(labels)
	fields := map[string]any{
		"project":   map[string]string{"key": project},
		"issuetype": map[string]string{"name": r.Text("issue_type", c.IssueType)},
		"summary":   summary,
		"labels":    labels,
	}
	if p := r.Text("priority", c.Priority); p != "" {
		fields["priority"] = map[string]string{"name": p}
	}
	for k, v := range c.Fields {
		fields[k] = render(r, "fields."+k, v)
	}
	if err := r.Err(); err != nil {
		return nil, "", err
	}
	if description = strings.TrimSpace(description); description != "" {
		if apiV3(c.APIURL.Path) {
			if !json.Valid([]byte(description)) {
				return nil, "", errors.New("description template: invalid JSON for API v3")
			}
			fields["description"] = json.RawMessage(description)
		} else {
			fields["description"] = description
		}
	}
	return fields, project, nil
}

// render renders every string in v, lists and maps walked.
func render(r *template.Renderer, path string, v any) any {
	switch v := v.(type) {
	case string:
		return r.Text(path, v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = render(r, fmt.Sprintf("%s[%d]", path, i), e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = render(r, path+"."+k, e)
		}
		return out
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Map { // YAML's map[any]any
		out := map[string]any{}
		for _, k := range rv.MapKeys() {
			if ks, ok := k.Interface().(string); ok {
				out[ks] = render(r, path+"."+ks, rv.MapIndex(k).Interface())
			}
		}
		return out
	}
	return v
}

// find returns the group's issue: the one the notification log names
// when it still qualifies, else the newest one the JQL search finds.
func (n *Notifier) find(ctx context.Context, kept *notification.Message, project, label string, firing bool) (*issue, bool, error) {
	if kept != nil && kept.ID != "" {
		u := n.cfg.APIURL.JoinPath("issue", kept.ID)
		u.RawQuery = url.Values{"fields": {"status,resolution,resolutiondate,labels"}}.Encode()
		answer, retryable, err := n.do(ctx, http.MethodGet, u, nil)
		var status *notification.StatusError
		switch {
		case errors.As(err, &status) && status.Code == http.StatusNotFound:
			// Deleted or moved: search.
		case err != nil:
			return nil, retryable, err
		default:
			var i issue
			if err := json.Unmarshal(answer, &i); err == nil && n.qualifies(&i, label, firing) {
				return &i, false, nil
			}
		}
	}
	var jql strings.Builder
	if n.cfg.WontFixResolution != "" {
		fmt.Fprintf(&jql, `(resolution is EMPTY or resolution != %q) and `, n.cfg.WontFixResolution)
	}
	if minutes := n.reopenMinutes(); firing && minutes > 0 {
		fmt.Fprintf(&jql, `(resolutiondate is EMPTY OR resolutiondate >= -%dm) and `, minutes)
	} else {
		jql.WriteString(`statusCategory != Done and `)
	}
	fmt.Fprintf(&jql, `project=%q and labels=%q order by status ASC,resolutiondate DESC`, project, label)
	search := map[string]any{"jql": jql.String(), "maxResults": 2, "fields": []string{"status"}}
	answer, retryable, err := n.do(ctx, http.MethodPost, n.searchURL(), search)
	if err != nil {
		return nil, retryable, fmt.Errorf("search: %w", err)
	}
	var found struct {
		Issues []issue `json:"issues"`
	}
	if err := json.Unmarshal(answer, &found); err != nil {
		return nil, true, notification.Failed(notification.ReasonServerError, errors.New("jira's search answer is not JSON"))
	}
	if len(found.Issues) == 0 {
		return nil, false, nil
	}
	return &found.Issues[0], false, nil
}

// reopenMinutes is reopen_duration in whole minutes when a reopen
// transition is set, else 0.
func (n *Notifier) reopenMinutes() int64 {
	if n.cfg.ReopenTransition == "" {
		return 0
	}
	return int64(time.Duration(n.cfg.ReopenDuration).Minutes())
}

// qualifies applies the search's rules to the issue the log names.
func (n *Notifier) qualifies(i *issue, label string, firing bool) bool {
	if !slices.Contains(i.Fields.Labels, label) {
		return false
	}
	if n.cfg.WontFixResolution != "" && i.Fields.Resolution != nil && i.Fields.Resolution.Name == n.cfg.WontFixResolution {
		return false
	}
	if !i.done() {
		return true
	}
	minutes := n.reopenMinutes()
	if !firing || minutes == 0 {
		return false
	}
	resolved, err := time.Parse("2006-01-02T15:04:05.000-0700", i.Fields.ResolutionDate)
	return err != nil || n.now().Sub(resolved) <= time.Duration(minutes)*time.Minute
}

// searchURL is the search endpoint: /search/jql on API v3 for Jira Cloud,
// /search otherwise.
func (n *Notifier) searchURL() *url.URL {
	c := n.cfg
	if c.APIType == "cloud" || c.APIType == "auto" && strings.HasSuffix(c.APIURL.Hostname(), "atlassian.net") {
		u := c.APIURL.JoinPath("search/jql")
		u.Path = strings.Replace(u.Path, "/rest/api/2/", "/rest/api/3/", 1)
		return u
	}
	return c.APIURL.JoinPath("search")
}

// transition resolves an open issue of a resolved group, reopens a done
// issue of a firing group.
func (n *Notifier) transition(ctx context.Context, i *issue, firing bool) (bool, error) {
	if i.Fields.Status == nil || i.done() != firing {
		return false, nil
	}
	name := n.cfg.ResolveTransition
	if firing {
		name = n.cfg.ReopenTransition
	}
	if name == "" {
		return false, nil
	}
	u := n.cfg.APIURL.JoinPath("issue", i.Key, "transitions")
	answer, retryable, err := n.do(ctx, http.MethodGet, u, nil)
	if err != nil {
		return retryable, fmt.Errorf("transitions of %s: %w", i.Key, err)
	}
	var ts struct {
		Transitions []struct{ ID, Name string } `json:"transitions"`
	}
	_ = json.Unmarshal(answer, &ts)
	at := slices.IndexFunc(ts.Transitions, func(t struct{ ID, Name string }) bool { return t.Name == name })
	if at < 0 {
		return false, notification.Failed(notification.ReasonClientError, fmt.Errorf("can't find transition %s for issue %s", name, i.Key))
	}
	body := map[string]any{"transition": map[string]string{"id": ts.Transitions[at].ID}}
	if _, retryable, err := n.do(ctx, http.MethodPost, u, body); err != nil {
		return retryable, fmt.Errorf("transition %s to %s: %w", i.Key, name, err)
	}
	return false, nil
}

// do sends one API request; body nil sends none.
func (n *Notifier) do(ctx context.Context, method string, u *url.URL, body any) ([]byte, bool, error) {
	var raw []byte
	if body != nil {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(body); err != nil {
			return nil, false, fmt.Errorf("encode jira request: %w", err)
		}
		raw = buf.Bytes()
	}
	header := http.Header{"Accept-Language": {"en"}}
	return n.client.Send(ctx, delivery.Request{Method: method, URL: u, Header: header, Body: raw})
}

func apiV3(path string) bool { return strings.HasSuffix(strings.TrimRight(path, "/"), "/3") }

// errorDetail is Jira's errorMessages and errors.
func errorDetail(_ int, body []byte) string {
	var e struct {
		ErrorMessages []string          `json:"errorMessages"`
		Errors        map[string]string `json:"errors"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	parts := e.ErrorMessages
	for _, k := range slices.Sorted(maps.Keys(e.Errors)) {
		parts = append(parts, k+": "+e.Errors[k])
	}
	return strings.Join(parts, "; ")
}
