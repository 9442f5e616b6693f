// Package incidentio is the incident.io integration: Alertmanager's
// webhook payload (version "1" for incident.io) POSTed to an HTTP alert
// source, with the alert source token as a bearer token. incident.io
// deduplicates by the payload's groupKey and maps its status: "firing"
// creates or updates the alert, "resolved" resolves it.
//
// As Alertmanager: max_alerts caps the alerts sent (truncatedAlerts counts
// the rest); a payload over incident.io's 512 KiB keeps only its first
// alert (Klaxon also adds the dropped ones to truncatedAlerts, which
// Alertmanager does not); url_file and the token file are read at each
// send (Alertmanager reads the token once, at start).
//
// Failures: 429, 5xx and network errors are retried; other 4xx are final
// with incident.io's message, error and errors. The URL and the token
// never appear in an error or a log line.
package incidentio

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/services/notifier/delivery"
	"github.com/klaxon-alerts/klaxon/services/notifier/notification"
	"github.com/klaxon-alerts/klaxon/services/notifier/secret"
	"github.com/klaxon-alerts/klaxon/services/notifier/template"
	"github.com/klaxon-alerts/klaxon/services/notifier/webhook"
)

// maxPayload is the largest payload incident.io accepts.
const maxPayload = 512 << 10

// version is the payload version incident.io is sent.
const version = "1"

// Notifier sends notifications to one incident.io configuration.
type Notifier struct {
	cfg    *config.IncidentioConfig
	logger *slog.Logger
	client *delivery.Client
}

var policy = delivery.Policy{Name: "incidentio", Detail: errorDetail}

// New returns a notifier for cfg (validated by package config). It does
// not render templates: tmpl is unused.
func New(cfg *config.IncidentioConfig, _ *template.Template, logger *slog.Logger) (*Notifier, error) {
	client, err := delivery.NewClient(policy, cfg.HTTPConfig)
	if err != nil {
		return nil, err
	}
	return &Notifier{cfg: cfg, logger: logger, client: client}, nil
}

// Notify delivers the notification. It reports whether a failure is worth
// retrying; the error never holds the URL or the token.
func (n *Notifier) Notify(ctx context.Context, nt *notification.Notification) (bool, error) {
	var inline *url.URL
	if n.cfg.URL != nil {
		inline = n.cfg.URL.URL
	}
	u, err := secret.URLValue(inline, n.cfg.URLFile)
	if err != nil {
		// A file being rotated (a mounted secret) reads fine a moment later.
		return true, notification.Failed(notification.ReasonConfig, err)
	}
	token, err := secret.Value(n.cfg.AlertSourceToken.Reveal(), n.cfg.AlertSourceTokenFile)
	if err != nil {
		return true, notification.Failed(notification.ReasonConfig, err)
	}
	body, err := n.payload(nt)
	if err != nil {
		return false, err
	}
	header := http.Header{}
	if token != "" {
		header.Set("Authorization", "Bearer "+token)
	}
	ctx, cancel := delivery.WithTimeout(ctx, time.Duration(n.cfg.Timeout), "incidentio")
	defer cancel()
	if _, retryable, err := n.client.Send(ctx, delivery.Request{URL: u, Header: header, Body: body, Secrets: secret.Of(token)}); err != nil {
		return retryable, err
	}
	n.logger.DebugContext(ctx, "incidentio notified", slog.String("receiver", nt.Receiver), slog.Int("alerts", len(nt.Alerts)))
	return false, nil
}

// payload encodes the webhook payload within max_alerts and incident.io's
// size limit.
func (n *Notifier) payload(nt *notification.Notification) ([]byte, error) {
	alerts, truncated := nt.Alerts, uint64(0)
	if max := n.cfg.MaxAlerts; max > 0 && uint64(len(alerts)) > max {
		alerts, truncated = alerts[:max], uint64(len(alerts))-max
	}
	msg := webhook.Message{
		Data:    notification.NewData(nt.Receiver, nt.GroupLabels, alerts, nt.At, nt.Reason, nt.ExternalURL),
		Version: version, GroupKey: nt.GroupKey, TruncatedAlerts: truncated,
	}
	body, err := json.Marshal(msg)
	if err != nil || len(body) <= maxPayload {
		return body, err
	}
	msg.TruncatedAlerts += uint64(len(msg.Alerts) - 1)
	msg.Alerts = msg.Alerts[:1]
	small, err := json.Marshal(msg)
	if err != nil {
		return nil, err
	}
	n.logger.Warn("incidentio payload over the size limit, first alert only",
		slog.String("receiver", nt.Receiver), slog.Int("original_size", len(body)), slog.Int("size", len(small)), slog.Int("max_size", maxPayload))
	return small, nil
}

// errorDetail is incident.io's error text: message, error and errors.
func errorDetail(_ int, body []byte) string {
	var a struct {
		Message string   `json:"message"`
		Error   string   `json:"error"`
		Errors  []string `json:"errors"`
	}
	if json.Unmarshal(body, &a) != nil {
		return ""
	}
	var parts []string
	for _, p := range []string{a.Message, a.Error, strings.Join(a.Errors, ", ")} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ": ")
}
