// Package pagerduty is the PagerDuty integration: one event per
// notification to the Events API v2 (routing_key; trigger while any alert
// of the group fires, resolve once all are resolved), or to the Events API
// v1 when a service_key is configured. The event's dedup_key (v1:
// incident_key) is the SHA-256 of the group key in hex, as Alertmanager's,
// so that the events of one group are one PagerDuty alert.
//
// As Alertmanager: the summary (v1: description) is cut to 1024 runes;
// details are rendered with the templates, a rendered value that reads as
// YAML structure (a JSON list, a number) becoming that structure; an event
// larger than 512 kB has its details replaced by a note; the default
// severity is "error".
//
// Failures: network errors, timeouts and 5xx are retryable; 429 (v1: 403)
// is retryable after its Retry-After; any other status is final, with
// PagerDuty's message and errors for a 400. A template error or a key
// that renders empty is final. The routing and service keys never appear in
// an error or a log line.
package pagerduty

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"time"

	yamlv2 "go.yaml.in/yaml/v2"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/services/notifier/delivery"
	"github.com/klaxon-alerts/klaxon/services/notifier/notification"
	"github.com/klaxon-alerts/klaxon/services/notifier/secret"
	"github.com/klaxon-alerts/klaxon/services/notifier/template"
)

// Limits of the Events API.
const (
	maxEventBytes  = 512000
	maxTextRunes   = 1024 // v2 summary, v1 description
	defaultV1URL   = "https://events.pagerduty.com/generic/2010-04-15/create_event.json"
	detailsRemoved = "Custom details have been removed because the original event exceeds the maximum size of 512kB"
)

// Event actions (v2) and types (v1).
const (
	trigger = "trigger"
	resolve = "resolve"
)

// ErrEmptyKey is returned when the routing or service key renders empty.
var ErrEmptyKey = errors.New("key cannot be empty")

// Notifier sends notifications to one PagerDuty configuration.
type Notifier struct {
	cfg    *config.PagerdutyConfig
	tmpl   *template.Template
	logger *slog.Logger
	client *delivery.Client
	v1URL  *url.URL // the Events API v1 endpoint; nil for v2
}

// New returns a notifier for cfg (validated, global fallbacks applied by
// package config) rendering with tmpl.
func New(cfg *config.PagerdutyConfig, tmpl *template.Template, logger *slog.Logger) (*Notifier, error) {
	policy := delivery.Policy{Name: "pagerduty", Detail: errorDetail}
	var v1URL *url.URL
	if cfg.V1() {
		v1URL, _ = url.Parse(defaultV1URL)
		// v1 answers 403 when rate limited.
		policy.RateLimitCodes = []int{http.StatusForbidden}
	} else if cfg.URL == nil || cfg.URL.URL == nil {
		return nil, errors.New("pagerduty: no url")
	}
	client, err := delivery.NewClient(policy, cfg.HTTPConfig)
	if err != nil {
		return nil, err
	}
	return &Notifier{cfg: cfg, tmpl: tmpl, logger: logger, client: client, v1URL: v1URL}, nil
}

// event is an Events API v2 event, or a v1 event (service_key,
// incident_key, event_type, description, details at the top level).
type event struct {
	RoutingKey  string         `json:"routing_key,omitempty"`
	ServiceKey  string         `json:"service_key,omitempty"`
	DedupKey    string         `json:"dedup_key,omitempty"`
	IncidentKey string         `json:"incident_key,omitempty"`
	EventType   string         `json:"event_type,omitempty"`
	Description string         `json:"description,omitempty"`
	EventAction string         `json:"event_action"`
	Payload     *payload       `json:"payload"`
	Client      string         `json:"client,omitempty"`
	ClientURL   string         `json:"client_url,omitempty"`
	Details     map[string]any `json:"details,omitempty"`
	Images      []image        `json:"images,omitempty"`
	Links       []link         `json:"links,omitempty"`
}

type payload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"`
	Timestamp     string         `json:"timestamp,omitempty"`
	Class         string         `json:"class,omitempty"`
	Component     string         `json:"component,omitempty"`
	Group         string         `json:"group,omitempty"`
	CustomDetails map[string]any `json:"custom_details,omitempty"`
}

type image struct {
	Src  string `json:"src"`
	Alt  string `json:"alt"`
	Href string `json:"href"`
}

type link struct {
	Href string `json:"href"`
	Text string `json:"text"`
}

// Notify delivers the notification. It reports whether a failure is worth
// retrying; the error never holds a key.
func (n *Notifier) Notify(ctx context.Context, nt *notification.Notification) (bool, error) {
	ev, keys, err := n.event(nt)
	if err != nil {
		return false, keys.Redact(err)
	}
	body, err := n.encode(ev, nt)
	if err != nil {
		return false, keys.Redact(err)
	}
	target := n.v1URL
	if target == nil {
		target = n.cfg.URL.URL
	}
	ctx, cancel := delivery.WithTimeout(ctx, time.Duration(n.cfg.Timeout), "pagerduty")
	defer cancel()
	if _, retryable, err := n.client.Send(ctx, delivery.Request{URL: target, Body: body, Secrets: keys}); err != nil {
		return retryable, err
	}
	n.logger.DebugContext(ctx, "pagerduty notified",
		slog.String("receiver", nt.Receiver), slog.String("action", ev.EventAction+ev.EventType),
		slog.Int("alerts", len(nt.Alerts)))
	return false, nil
}

// event renders the event of nt; keys are the secrets it holds.
func (n *Notifier) event(nt *notification.Notification) (*event, secret.Set, error) {
	data := nt.Data()
	r := n.tmpl.Renderer(data)
	c := n.cfg
	action := trigger
	if data.Status == "resolved" {
		action = resolve
	}
	details, detailsErr := n.details(data)

	rawKey, err := secret.Value(c.RoutingKey.Reveal(), c.RoutingKeyFile)
	if c.V1() {
		rawKey, err = secret.Value(c.ServiceKey.Reveal(), c.ServiceKeyFile)
	}
	if err != nil {
		return nil, nil, notification.Failed(notification.ReasonConfig, err)
	}
	key := r.Text("key", rawKey)
	keys := secret.Of(rawKey, key)

	ev := &event{DedupKey: nt.KeyHash()}
	if c.V1() {
		description, cut := delivery.TruncateRunes(r.Text("description", c.Description), maxTextRunes)
		if cut {
			n.logger.Warn("pagerduty description truncated", slog.String("receiver", nt.Receiver), slog.Int("max_runes", maxTextRunes))
		}
		ev = &event{ServiceKey: key, IncidentKey: ev.DedupKey, EventType: action, Description: description, Details: details}
		if action == trigger {
			ev.Client, ev.ClientURL = r.Text("client", c.Client), r.Text("client_url", c.ClientURL)
		}
	} else {
		summary, cut := delivery.TruncateRunes(r.Text("description", c.Description), maxTextRunes)
		if cut {
			n.logger.Warn("pagerduty summary truncated", slog.String("receiver", nt.Receiver), slog.Int("max_runes", maxTextRunes))
		}
		severity := c.Severity
		if severity == "" {
			severity = "error"
		}
		ev.RoutingKey = key
		ev.EventAction = action
		ev.Client, ev.ClientURL = r.Text("client", c.Client), r.Text("client_url", c.ClientURL)
		ev.Payload = &payload{
			Summary:       summary,
			Source:        r.Text("source", c.Source),
			Severity:      r.Text("severity", severity),
			Class:         r.Text("class", c.Class),
			Component:     r.Text("component", c.Component),
			Group:         r.Text("group", c.Group),
			CustomDetails: details,
		}
		ev.Images, ev.Links = []image{}, []link{}
		for i, im := range c.Images {
			p := fmt.Sprintf("images[%d].", i)
			if v := (image{Src: r.Text(p+"src", im.Src), Alt: r.Text(p+"alt", im.Alt), Href: r.Text(p+"href", im.Href)}); v.Src != "" {
				ev.Images = append(ev.Images, v)
			}
		}
		for i, l := range c.Links {
			p := fmt.Sprintf("links[%d].", i)
			if v := (link{Href: r.Text(p+"href", l.Href), Text: r.Text(p+"text", l.Text)}); v.Href != "" {
				ev.Links = append(ev.Links, v)
			}
		}
	}
	if err := errors.Join(detailsErr, r.Err()); err != nil {
		return nil, keys, notification.Failed(notification.ReasonTemplate, err)
	}
	if key == "" {
		what := "routing"
		if c.V1() {
			what = "service"
		}
		return nil, keys, notification.Failed(notification.ReasonConfig, fmt.Errorf("pagerduty %s %w", what, ErrEmptyKey))
	}
	return ev, keys, nil
}

// encode marshals ev; an event over PagerDuty's size limit has its details
// replaced by a note.
func (n *Notifier) encode(ev *event, nt *notification.Notification) ([]byte, error) {
	body, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encode pagerduty event: %w", err)
	}
	if len(body) <= maxEventBytes {
		return body, nil
	}
	note := map[string]any{"error": detailsRemoved}
	if ev.Payload != nil {
		ev.Payload.CustomDetails = note
	} else {
		ev.Details = note
	}
	n.logger.Warn("pagerduty details removed: event too large",
		slog.String("receiver", nt.Receiver), slog.Int("bytes", len(body)), slog.Int("max_bytes", maxEventBytes))
	body, err = json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encode pagerduty event: %w", err)
	}
	return body, nil
}

// details renders the configured details: every string in them (keys
// included) is a template.
func (n *Notifier) details(data *notification.Data) (map[string]any, error) {
	out := make(map[string]any, len(n.cfg.Details))
	for k, v := range n.cfg.Details {
		key, err := n.tmpl.Text(k, data)
		if err != nil {
			return nil, fmt.Errorf("template details key %q: %w", k, err)
		}
		if out[key], err = n.renderValue(v, data); err != nil {
			return nil, fmt.Errorf("template details.%s: %w", k, err)
		}
	}
	return out, nil
}

// renderValue renders the strings of v, lists and maps walked. A rendered
// string that YAML reads as something other than a string (a list, a
// map, a number, null) becomes that value.
func (n *Notifier) renderValue(v any, data *notification.Data) (any, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		s, err := n.tmpl.Text(v, data)
		if err != nil {
			return nil, err
		}
		var parsed any
		if yamlv2.Unmarshal([]byte(s), &parsed) != nil {
			return s, nil
		}
		if _, isString := parsed.(string); isString {
			return s, nil
		}
		return normalize(parsed), nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		out := make([]any, rv.Len())
		for i := range out {
			var err error
			if out[i], err = n.renderValue(rv.Index(i).Interface(), data); err != nil {
				return nil, err
			}
		}
		return out, nil
	case reflect.Map:
		out := make(map[string]any, rv.Len())
		for _, mk := range rv.MapKeys() {
			k, ok := mk.Interface().(string)
			if !ok {
				continue // JSON objects have string keys only
			}
			key, err := n.tmpl.Text(k, data)
			if err != nil {
				return nil, err
			}
			if out[key], err = n.renderValue(rv.MapIndex(mk).Interface(), data); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return v, nil
}

// normalize turns decoded YAML into JSON-encodable values: maps keyed by
// strings (other keys dropped).
func normalize(v any) any {
	switch v := v.(type) {
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = normalize(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			if ks, ok := k.(string); ok {
				out[ks] = normalize(e)
			}
		}
		return out
	}
	return v
}

// errorDetail is PagerDuty's explanation of a 400: its message and errors.
func errorDetail(code int, body []byte) string {
	if code != http.StatusBadRequest {
		return ""
	}
	var answer struct {
		Status  string   `json:"status"`
		Message string   `json:"message"`
		Errors  []string `json:"errors"`
	}
	if json.Unmarshal(body, &answer) != nil {
		return ""
	}
	return answer.Message + ": " + strings.Join(answer.Errors, ",")
}
