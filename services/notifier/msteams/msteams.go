// Package msteams is the Microsoft Teams integrations: msteams_configs
// posts a connector MessageCard (title, summary, Markdown text and a theme
// color: red while firing, green once resolved) to an Office 365
// connector's webhook; msteamsv2_configs posts an Adaptive Card (a bold
// heading, "Attention" while firing and "Good" once resolved, above the
// Markdown text, full width) to a Workflows webhook. Both cards are
// Alertmanager's, field for field; as Alertmanager, no field is cut.
//
// Failures: network errors, timeouts and 5xx are retryable; 429 is
// retryable after its Retry-After (Alertmanager gives up); any other
// status is final, with Teams' error text. A connector that answers 200
// with "Webhook message delivery failed..." refused the card: final. A
// template error is final. The webhook URL (its path and query are the
// credential) never appears in an error or a log line.
package msteams

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

// Notifier sends notifications to one Teams configuration of either kind.
type Notifier struct {
	name       string // "msteams" or "msteamsv2"
	webhookURL *config.SecretURL
	urlFile    string
	tmpl       *template.Template
	logger     *slog.Logger
	client     *delivery.Client
	// card renders the notification's card.
	card func(r *template.Renderer, status string) any
}

// New returns a notifier for a connector (MessageCard) configuration.
func New(cfg *config.MSTeamsConfig, tmpl *template.Template, logger *slog.Logger) (*Notifier, error) {
	n, err := newNotifier("msteams", cfg.HTTPConfig, cfg.WebhookURL, cfg.WebhookURLFile, tmpl, logger)
	if err != nil {
		return nil, err
	}
	n.card = func(r *template.Renderer, status string) any {
		color := "2DC72D"
		if status == "firing" {
			color = "8C1A1A"
		}
		return messageCard{
			Context:    "http://schema.org/extensions",
			Type:       "MessageCard",
			Title:      r.Text("title", cfg.Title),
			Summary:    r.Text("summary", cfg.Summary),
			Text:       r.Text("text", cfg.Text),
			ThemeColor: color,
		}
	}
	return n, nil
}

// NewV2 returns a notifier for a Workflows (Adaptive Card) configuration.
func NewV2(cfg *config.MSTeamsV2Config, tmpl *template.Template, logger *slog.Logger) (*Notifier, error) {
	n, err := newNotifier("msteamsv2", cfg.HTTPConfig, cfg.WebhookURL, cfg.WebhookURLFile, tmpl, logger)
	if err != nil {
		return nil, err
	}
	n.card = func(r *template.Renderer, status string) any {
		color := "Good"
		if status == "firing" {
			color = "Attention"
		}
		return adaptiveMessage{
			Type: "message",
			Attachments: []attachment{{
				ContentType: "application/vnd.microsoft.card.adaptive",
				Content: adaptiveCard{
					Schema:  "http://adaptivecards.io/schemas/adaptive-card.json",
					Type:    "AdaptiveCard",
					Version: "1.2",
					Body: []textBlock{
						{Type: "TextBlock", Text: r.Text("title", cfg.Title), Weight: "Bolder", Size: "Medium", Wrap: true, Style: "heading", Color: color},
						{Type: "TextBlock", Text: r.Text("text", cfg.Text), Wrap: true},
					},
					MSTeams: width{Width: "full"},
				},
			}},
		}
	}
	return n, nil
}

func newNotifier(name string, h *config.HTTPClientConfig, u *config.SecretURL, file string, tmpl *template.Template, logger *slog.Logger) (*Notifier, error) {
	client, err := delivery.NewClient(delivery.Policy{Name: name, Detail: errorDetail, Refused: refused}, h)
	if err != nil {
		return nil, err
	}
	return &Notifier{name: name, webhookURL: u, urlFile: file, tmpl: tmpl, logger: logger, client: client}, nil
}

// messageCard is a connector's legacy card.
type messageCard struct {
	Context    string `json:"@context"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Summary    string `json:"summary"`
	Text       string `json:"text"`
	ThemeColor string `json:"themeColor"`
}

// adaptiveMessage is a Workflows message holding one Adaptive Card.
type adaptiveMessage struct {
	Type        string       `json:"type"`
	Attachments []attachment `json:"attachments"`
}

type attachment struct {
	ContentType string       `json:"contentType"`
	ContentURL  *string      `json:"contentUrl"` // always null
	Content     adaptiveCard `json:"content"`
}

type adaptiveCard struct {
	Schema  string      `json:"$schema"`
	Type    string      `json:"type"`
	Version string      `json:"version"`
	Body    []textBlock `json:"body"`
	MSTeams width       `json:"msteams"`
}

type textBlock struct {
	Type   string `json:"type"`
	Text   string `json:"text"`
	Weight string `json:"weight,omitempty"`
	Size   string `json:"size,omitempty"`
	Wrap   bool   `json:"wrap,omitempty"`
	Style  string `json:"style,omitempty"`
	Color  string `json:"color,omitempty"`
}

type width struct {
	Width string `json:"width"`
}

// Notify delivers the notification. It reports whether a failure is worth
// retrying; the error never holds the webhook URL.
func (n *Notifier) Notify(ctx context.Context, nt *notification.Notification) (bool, error) {
	data := nt.Data()
	r := n.tmpl.Renderer(data)
	card := n.card(r, data.Status)
	if err := r.Err(); err != nil {
		return false, notification.Failed(notification.ReasonTemplate, err)
	}
	body, err := json.Marshal(card)
	if err != nil {
		return false, fmt.Errorf("encode %s card: %w", n.name, err)
	}
	u, err := secret.URLValue(n.webhookURL.RevealURL(), n.urlFile)
	if err != nil {
		// A file being rotated (a mounted secret) reads fine a moment later.
		return true, notification.Failed(notification.ReasonConfig, err)
	}
	if _, retryable, err := n.client.Send(ctx, delivery.Request{URL: u, Body: body}); err != nil {
		return retryable, err
	}
	n.logger.DebugContext(ctx, "teams notified", slog.String("receiver", nt.Receiver), slog.Int("alerts", len(nt.Alerts)))
	return false, nil
}

// refused reads a connector's 200 answer that reports a failed delivery.
func refused(body []byte) error {
	if text := strings.TrimSpace(string(body)); strings.HasPrefix(text, "Webhook message delivery failed") {
		return fmt.Errorf("teams refused the card: %s", delivery.ErrorText(text, nil))
	}
	return nil
}

// errorDetail is a Workflows error's code and message; other answers are
// shown as they are.
func errorDetail(_ int, body []byte) string {
	var answer struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &answer) != nil || answer.Error.Message == "" {
		return ""
	}
	return answer.Error.Code + ": " + answer.Error.Message
}
