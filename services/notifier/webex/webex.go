// Package webex is the Webex integration: one Markdown message per
// notification, posted to the Messages API (api_url) for room_id, with the
// bot's token as http_config's authorization.
//
// As Alertmanager: the message is cut to 7439 bytes (Webex's limit on
// Markdown) and the cut logged.
//
// Failures: network errors, timeouts and 5xx are retryable; 429 is
// retryable after its Retry-After; any other status is final, with
// Webex's message and tracking id. A template error is final. The token
// never appears in an error or a log line.
package webex

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/services/notifier/delivery"
	"github.com/klaxon-alerts/klaxon/services/notifier/notification"
	"github.com/klaxon-alerts/klaxon/services/notifier/template"
)

// maxMessageBytes is Webex's limit on a message's Markdown.
const maxMessageBytes = 7439

// Notifier sends notifications to one Webex configuration.
type Notifier struct {
	cfg    *config.WebexConfig
	tmpl   *template.Template
	logger *slog.Logger
	client *delivery.Client
}

var policy = delivery.Policy{Name: "webex", Detail: errorDetail}

// New returns a notifier for cfg (validated, global fallbacks applied by
// package config) rendering with tmpl.
func New(cfg *config.WebexConfig, tmpl *template.Template, logger *slog.Logger) (*Notifier, error) {
	if cfg.APIURL == nil || cfg.APIURL.URL == nil {
		return nil, fmt.Errorf("webex: no api_url")
	}
	client, err := delivery.NewClient(policy, cfg.HTTPConfig)
	if err != nil {
		return nil, err
	}
	return &Notifier{cfg: cfg, tmpl: tmpl, logger: logger, client: client}, nil
}

type message struct {
	Markdown string `json:"markdown"`
	RoomID   string `json:"roomId,omitempty"`
}

// Notify delivers the notification. It reports whether a failure is worth
// retrying; the error never holds the token.
func (n *Notifier) Notify(ctx context.Context, nt *notification.Notification) (bool, error) {
	r := n.tmpl.Renderer(nt.Data())
	text, cut := delivery.TruncateBytes(r.Text("message", n.cfg.Message), maxMessageBytes)
	msg := message{Markdown: text, RoomID: r.Text("room_id", n.cfg.RoomID)}
	if err := r.Err(); err != nil {
		return false, notification.Failed(notification.ReasonTemplate, err)
	}
	if cut {
		n.logger.Warn("webex message truncated", slog.String("receiver", nt.Receiver), slog.Int("max_bytes", maxMessageBytes))
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return false, fmt.Errorf("encode webex message: %w", err)
	}
	if _, retryable, err := n.client.Send(ctx, delivery.Request{URL: n.cfg.APIURL.URL, Body: body}); err != nil {
		return retryable, err
	}
	n.logger.DebugContext(ctx, "webex notified", slog.String("receiver", nt.Receiver), slog.Int("alerts", len(nt.Alerts)))
	return false, nil
}

// errorDetail is Webex's explanation: its message, the errors'
// descriptions, and the tracking id support asks for.
func errorDetail(_ int, body []byte) string {
	var answer struct {
		Message string `json:"message"`
		Errors  []struct {
			Description string `json:"description"`
		} `json:"errors"`
		TrackingID string `json:"trackingId"`
	}
	if json.Unmarshal(body, &answer) != nil || answer.Message == "" {
		return ""
	}
	text := answer.Message
	var descriptions []string
	for _, e := range answer.Errors {
		if e.Description != "" && e.Description != answer.Message {
			descriptions = append(descriptions, e.Description)
		}
	}
	if len(descriptions) > 0 {
		text += ": " + strings.Join(descriptions, "; ")
	}
	if answer.TrackingID != "" {
		text += " (tracking id " + answer.TrackingID + ")"
	}
	return text
}
