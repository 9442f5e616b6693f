// Package victorops is the VictorOps (Splunk On-Call) integration: one
// event per notification, POSTed as JSON to the REST endpoint
// <api_url><api_key>/<routing_key>.
//
// As Alertmanager: the event's entity_id is the SHA-256 of the group key,
// so that every notification of a group is one incident; message_type is
// the rendered message_type while the group fires (CRITICAL when it renders
// to anything but CRITICAL, WARNING or INFO) and RECOVERY once it is
// resolved; state_message is cut to 20480 runes; custom fields are
// rendered and added beside the fixed fields (config rejects one that
// would replace them).
//
// Failures: VictorOps answers {"result": "failure", "message": "..."}; a
// 4xx is final with that message, 429, 5xx and network errors are
// retried. The API key (it is in the URL) never appears in an error or a
// log line.
package victorops

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/services/notifier/delivery"
	"github.com/klaxon-alerts/klaxon/services/notifier/notification"
	"github.com/klaxon-alerts/klaxon/services/notifier/secret"
	"github.com/klaxon-alerts/klaxon/services/notifier/template"
)

// maxStateMessageRunes is the limit of state_message.
const maxStateMessageRunes = 20480

// Message types.
const (
	typeTrigger  = "CRITICAL"
	typeRecovery = "RECOVERY"
)

var firingTypes = map[string]bool{"CRITICAL": true, "WARNING": true, "INFO": true}

// Notifier sends notifications to one VictorOps configuration.
type Notifier struct {
	cfg    *config.VictorOpsConfig
	tmpl   *template.Template
	logger *slog.Logger
	client *delivery.Client
}

var policy = delivery.Policy{Name: "victorops", Detail: errorDetail}

// New returns a notifier for cfg (validated, global fallbacks applied by
// package config) rendering with tmpl.
func New(cfg *config.VictorOpsConfig, tmpl *template.Template, logger *slog.Logger) (*Notifier, error) {
	if cfg.APIURL == nil || cfg.APIURL.URL == nil {
		return nil, fmt.Errorf("victorops: no api_url")
	}
	client, err := delivery.NewClient(policy, cfg.HTTPConfig)
	if err != nil {
		return nil, err
	}
	return &Notifier{cfg: cfg, tmpl: tmpl, logger: logger, client: client}, nil
}

// Notify delivers the notification. It reports whether a failure is worth
// retrying; the error never holds the API key.
func (n *Notifier) Notify(ctx context.Context, nt *notification.Notification) (bool, error) {
	apiKey, err := secret.Value(n.cfg.APIKey.Reveal(), n.cfg.APIKeyFile)
	if err != nil {
		// A file being rotated (a mounted secret) reads fine a moment later.
		return true, notification.Failed(notification.ReasonConfig, err)
	}
	data := nt.Data()
	r := n.tmpl.Renderer(data)
	routingKey := r.Text("routing_key", n.cfg.RoutingKey)
	event := n.event(r, nt, data.Status)
	if err := r.Err(); err != nil {
		return false, notification.Failed(notification.ReasonTemplate, err)
	}
	body, err := json.Marshal(event)
	if err != nil {
		return false, fmt.Errorf("encode victorops event: %w", err)
	}
	u := *n.cfg.APIURL.URL
	u.Path += apiKey + "/" + routingKey
	u.RawPath = ""
	if _, retryable, err := n.client.Send(ctx, delivery.Request{URL: &u, Body: body, Secrets: secret.Of(apiKey)}); err != nil {
		return retryable, err
	}
	n.logger.DebugContext(ctx, "victorops notified", slog.String("receiver", nt.Receiver), slog.String("message_type", event["message_type"]))
	return false, nil
}

// event renders the event's fields.
func (n *Notifier) event(r *template.Renderer, nt *notification.Notification, status string) map[string]string {
	messageType := r.Text("message_type", n.cfg.MessageType)
	switch {
	case status == "resolved":
		messageType = typeRecovery
	case !firingTypes[messageType]:
		messageType = typeTrigger
	}
	state, cut := delivery.TruncateRunes(r.Text("state_message", n.cfg.StateMessage), maxStateMessageRunes)
	if cut {
		n.logger.Warn("victorops state_message truncated", slog.String("receiver", nt.Receiver), slog.Int("max_runes", maxStateMessageRunes))
	}
	event := map[string]string{
		"message_type":        messageType,
		"entity_id":           nt.KeyHash(),
		"entity_display_name": r.Text("entity_display_name", n.cfg.EntityDisplayName),
		"state_message":       state,
		"monitoring_tool":     r.Text("monitoring_tool", n.cfg.MonitoringTool),
	}
	for k, v := range n.cfg.CustomFields {
		event[k] = r.Text("custom_fields."+k, v)
	}
	return event
}

// errorDetail is VictorOps' error text: {"message": "..."}.
func errorDetail(_ int, body []byte) string {
	var a struct {
		Result  string `json:"result"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &a) != nil {
		return ""
	}
	return strings.TrimSpace(a.Result + ": " + a.Message)
}
