// Package discord is the Discord integration: one message per
// notification, posted to a channel's webhook, with the content above one
// embed (title, description, and a color: red while firing, green once
// resolved).
//
// As Alertmanager: the title is cut to 256 runes, the description to 4096
// and the content to 2000 (Discord's limits); username and avatar_url are
// not templates, and an avatar_url that does not parse is left out.
//
// Failures: network errors, timeouts and 5xx are retryable; 429 is
// retryable after its Retry-After (or the retry_after of Discord's answer)
// where Alertmanager gives up; any other status is final, with Discord's
// message. A template error is final. The webhook URL (its path is the
// credential) never appears in an error or a log line.
package discord

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/services/notifier/delivery"
	"github.com/klaxon-alerts/klaxon/services/notifier/notification"
	"github.com/klaxon-alerts/klaxon/services/notifier/secret"
	"github.com/klaxon-alerts/klaxon/services/notifier/template"
)

// Discord's limits, in runes.
const (
	maxTitleRunes       = 256
	maxDescriptionRunes = 4096
	maxContentRunes     = 2000
)

// Embed colors.
const (
	colorRed   = 0x992D22
	colorGreen = 0x2ECC71
)

// Notifier sends notifications to one Discord configuration.
type Notifier struct {
	cfg    *config.DiscordConfig
	tmpl   *template.Template
	logger *slog.Logger
	client *delivery.Client
}

// policy reads Discord's answers: its error message, and the retry_after
// (seconds) of a rate-limited answer.
var policy = delivery.Policy{Name: "discord", Detail: errorDetail, RetryAfter: retryAfter}

// New returns a notifier for cfg (validated by package config) rendering
// with tmpl.
func New(cfg *config.DiscordConfig, tmpl *template.Template, logger *slog.Logger) (*Notifier, error) {
	client, err := delivery.NewClient(policy, cfg.HTTPConfig)
	if err != nil {
		return nil, err
	}
	return &Notifier{cfg: cfg, tmpl: tmpl, logger: logger, client: client}, nil
}

type message struct {
	Content   string  `json:"content"`
	Embeds    []embed `json:"embeds"`
	Username  string  `json:"username,omitempty"`
	AvatarURL string  `json:"avatar_url,omitempty"`
}

type embed struct {
	Title       string `json:"title"`
	Description string `json:"description"`
	Color       int    `json:"color"`
}

// Notify delivers the notification. It reports whether a failure is worth
// retrying; the error never holds the webhook URL.
func (n *Notifier) Notify(ctx context.Context, nt *notification.Notification) (bool, error) {
	data := nt.Data()
	r := n.tmpl.Renderer(data)
	cut := func(field, src string, max int) string {
		s, truncated := delivery.TruncateRunes(r.Text(field, src), max)
		if truncated {
			n.logger.Warn("discord field truncated", slog.String("receiver", nt.Receiver), slog.String("field", field), slog.Int("max_runes", max))
		}
		return s
	}
	color := colorGreen
	if data.Status == "firing" {
		color = colorRed
	}
	msg := message{
		Content:  cut("content", n.cfg.Content, maxContentRunes),
		Username: n.cfg.Username,
		Embeds: []embed{{
			Title:       cut("title", n.cfg.Title, maxTitleRunes),
			Description: cut("message", n.cfg.Message, maxDescriptionRunes),
			Color:       color,
		}},
	}
	if err := r.Err(); err != nil {
		return false, notification.Failed(notification.ReasonTemplate, err)
	}
	if n.cfg.AvatarURL != "" {
		if _, err := url.Parse(n.cfg.AvatarURL); err == nil {
			msg.AvatarURL = n.cfg.AvatarURL
		} else {
			n.logger.Warn("discord avatar_url does not parse, left out", slog.String("receiver", nt.Receiver))
		}
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return false, fmt.Errorf("encode discord message: %w", err)
	}
	u, err := secret.URLValue(n.cfg.WebhookURL.RevealURL(), n.cfg.WebhookURLFile)
	if err != nil {
		// A file being rotated (a mounted secret) reads fine a moment later.
		return true, notification.Failed(notification.ReasonConfig, err)
	}
	if _, retryable, err := n.client.Send(ctx, delivery.Request{URL: u, Body: body}); err != nil {
		return retryable, err
	}
	n.logger.DebugContext(ctx, "discord notified", slog.String("receiver", nt.Receiver), slog.Int("alerts", len(nt.Alerts)))
	return false, nil
}

// errorDetail is Discord's explanation: its message and code.
func errorDetail(_ int, body []byte) string {
	var answer struct {
		Message string `json:"message"`
		Code    int    `json:"code"`
	}
	if json.Unmarshal(body, &answer) != nil || answer.Message == "" {
		return ""
	}
	return fmt.Sprintf("%s (code %d)", answer.Message, answer.Code)
}

// retryAfter reads the retry_after (seconds, fractional) of Discord's
// rate-limited answer.
func retryAfter(body []byte) (time.Duration, bool) {
	var answer struct {
		RetryAfter *float64 `json:"retry_after"`
	}
	if json.Unmarshal(body, &answer) != nil || answer.RetryAfter == nil || *answer.RetryAfter < 0 {
		return 0, false
	}
	return time.Duration(*answer.RetryAfter * float64(time.Second)), true
}
