// Package opsgenie is the Opsgenie integration (Alert API v2). While the
// group fires, an alert is created (POST v2/alerts) with the group key's
// SHA-256 as its alias, so that Opsgenie keeps one alert per group; with
// update_alerts its message and description are also updated (PUT
// v2/alerts/<alias>/message and /description). Once the group is
// resolved, the alert is closed (POST v2/alerts/<alias>/close).
//
// As Alertmanager: the message is cut to 130 runes; details are the
// group's common labels overlaid with the configured details; tags and
// actions are comma-separated lists; a responder of type "teams" is a
// comma-separated list of team names.
//
// Failures: network errors, timeouts and 5xx are retryable; 429 is
// retryable after its Retry-After; any other status is final, with
// Opsgenie's message. A template error is final. The API key (sent as
// "Authorization: GenieKey <key>") never appears in an error or a log
// line.
package opsgenie

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/services/notifier/delivery"
	"github.com/klaxon-alerts/klaxon/services/notifier/notification"
	"github.com/klaxon-alerts/klaxon/services/notifier/secret"
	"github.com/klaxon-alerts/klaxon/services/notifier/template"
)

// maxMessageRunes is Opsgenie's limit on an alert's message.
const maxMessageRunes = 130

// Notifier sends notifications to one Opsgenie configuration.
type Notifier struct {
	cfg    *config.OpsGenieConfig
	tmpl   *template.Template
	logger *slog.Logger
	client *delivery.Client
}

// New returns a notifier for cfg (validated, global fallbacks applied by
// package config) rendering with tmpl.
func New(cfg *config.OpsGenieConfig, tmpl *template.Template, logger *slog.Logger) (*Notifier, error) {
	if cfg.APIURL == nil || cfg.APIURL.URL == nil {
		return nil, fmt.Errorf("opsgenie: no api_url")
	}
	client, err := delivery.NewClient(delivery.Policy{Name: "opsgenie", Detail: errorDetail}, cfg.HTTPConfig)
	if err != nil {
		return nil, err
	}
	return &Notifier{cfg: cfg, tmpl: tmpl, logger: logger, client: client}, nil
}

// createAlert is the body of v2/alerts.
type createAlert struct {
	Alias       string            `json:"alias"`
	Message     string            `json:"message"`
	Description string            `json:"description,omitempty"`
	Details     map[string]string `json:"details"`
	Source      string            `json:"source"`
	Responders  []responder       `json:"responders,omitempty"`
	Tags        []string          `json:"tags,omitempty"`
	Note        string            `json:"note,omitempty"`
	Priority    string            `json:"priority,omitempty"`
	Entity      string            `json:"entity,omitempty"`
	Actions     []string          `json:"actions,omitempty"`
}

type responder struct {
	ID       string `json:"id,omitempty"`
	Name     string `json:"name,omitempty"`
	Username string `json:"username,omitempty"`
	Type     string `json:"type"`
}

// call is one request of a notification.
type call struct {
	method string
	path   string // relative to the API URL
	alias  bool   // the path names the alert by alias
	body   any
}

// Notify delivers the notification: the requests are sent in order, and
// the first failure stops them. It reports whether a failure is worth
// retrying; the error never holds the API key.
func (n *Notifier) Notify(ctx context.Context, nt *notification.Notification) (bool, error) {
	calls, key, err := n.calls(nt)
	if err != nil {
		return false, secret.Of(key).Redact(err)
	}
	secrets := secret.Of(key)
	for _, c := range calls {
		body, err := json.Marshal(c.body)
		if err != nil {
			return false, fmt.Errorf("encode opsgenie request: %w", err)
		}
		u := *n.cfg.APIURL.URL
		u.Path += c.path
		if c.alias {
			q := u.Query()
			q.Set("identifierType", "alias")
			u.RawQuery = q.Encode()
		}
		req := delivery.Request{
			Method: c.method, URL: &u, Body: body, Secrets: secrets,
			Header: http.Header{"Authorization": {"GenieKey " + key}},
		}
		if _, retryable, err := n.client.Send(ctx, req); err != nil {
			return retryable, err
		}
	}
	n.logger.DebugContext(ctx, "opsgenie notified", slog.String("receiver", nt.Receiver),
		slog.Int("requests", len(calls)), slog.Int("alerts", len(nt.Alerts)))
	return false, nil
}

// calls renders the requests of nt and returns them with the API key.
func (n *Notifier) calls(nt *notification.Notification) ([]call, string, error) {
	data := nt.Data()
	r := n.tmpl.Renderer(data)
	c := n.cfg
	rawKey, err := secret.Value(c.APIKey.Reveal(), c.APIKeyFile)
	if err != nil {
		return nil, "", notification.Failed(notification.ReasonConfig, err)
	}
	key := strings.TrimSpace(r.Text("api_key", rawKey))
	alias := nt.KeyHash()
	escaped := url.PathEscape(alias)

	var calls []call
	if data.Status == "resolved" {
		calls = []call{{method: http.MethodPost, path: "v2/alerts/" + escaped + "/close", alias: true,
			body: map[string]string{"source": r.Text("source", c.Source)}}}
	} else {
		message, cut := delivery.TruncateRunes(r.Text("message", c.Message), maxMessageRunes)
		if cut {
			n.logger.Warn("opsgenie message truncated", slog.String("receiver", nt.Receiver), slog.Int("max_runes", maxMessageRunes))
		}
		details := maps.Clone(map[string]string(data.CommonLabels))
		for k, v := range c.Details {
			details[k] = r.Text("details."+k, v)
		}
		msg := &createAlert{
			Alias:       alias,
			Message:     message,
			Description: r.Text("description", c.Description),
			Details:     details,
			Source:      r.Text("source", c.Source),
			Responders:  n.responders(r),
			Tags:        split(r.Text("tags", c.Tags)),
			Note:        r.Text("note", c.Note),
			Priority:    r.Text("priority", c.Priority),
			Entity:      r.Text("entity", c.Entity),
			Actions:     split(r.Text("actions", c.Actions)),
		}
		calls = []call{{method: http.MethodPost, path: "v2/alerts", body: msg}}
		if c.UpdateAlerts {
			calls = append(calls,
				call{method: http.MethodPut, path: "v2/alerts/" + escaped + "/message", alias: true, body: map[string]string{"message": msg.Message}},
				call{method: http.MethodPut, path: "v2/alerts/" + escaped + "/description", alias: true, body: descriptionUpdate{msg.Description}})
		}
	}
	if err := r.Err(); err != nil {
		return nil, key, notification.Failed(notification.ReasonTemplate, err)
	}
	return calls, key, nil
}

// descriptionUpdate is the body of v2/alerts/<alias>/description.
type descriptionUpdate struct {
	Description string `json:"description,omitempty"`
}

// responders renders the configured responders; an empty one is left out,
// and a "teams" one becomes one team responder per name.
func (n *Notifier) responders(r *template.Renderer) []responder {
	var out []responder
	for i, cr := range n.cfg.Responders {
		p := fmt.Sprintf("responders[%d].", i)
		res := responder{ID: r.Text(p+"id", cr.ID), Name: r.Text(p+"name", cr.Name),
			Username: r.Text(p+"username", cr.Username), Type: r.Text(p+"type", cr.Type)}
		switch {
		case res == responder{}:
		case res.Type == "teams":
			for _, team := range split(res.Name) {
				out = append(out, responder{Name: team, Type: "team"})
			}
		default:
			out = append(out, res)
		}
	}
	return out
}

// split splits a comma-separated list, empty items left out.
func split(s string) []string {
	var out []string
	for _, item := range strings.Split(strings.TrimSpace(s), ",") {
		if item != "" {
			out = append(out, item)
		}
	}
	return out
}

// errorDetail is Opsgenie's explanation of a failed request: its message
// and, for a 422, the fields in error.
func errorDetail(_ int, body []byte) string {
	var answer struct {
		Message string            `json:"message"`
		Errors  map[string]string `json:"errors"`
	}
	if json.Unmarshal(body, &answer) != nil || answer.Message == "" {
		return ""
	}
	text := answer.Message
	for _, k := range slices.Sorted(maps.Keys(answer.Errors)) {
		text += "; " + k + ": " + answer.Errors[k]
	}
	return text
}
