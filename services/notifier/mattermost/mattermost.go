// Package mattermost is the Mattermost integration: one post per
// notification to an incoming webhook, Slack-style: one attachment built
// from the top-level fields (title, color, Markdown text...), or the
// configured attachments with the text above them; channel, username,
// icon, type, props.card and priority as configured.
//
// As Alertmanager: the post's own text is cut to 16383 runes; a priority
// other than urgent, important or standard becomes standard, requested_ack
// needs more than standard and persistent_notifications needs urgent (each
// correction logged).
//
// Failures: network errors, timeouts and 5xx are retryable; 429 is
// retryable after its Retry-After; any other status is final, with
// Mattermost's message and the channel named. A template error is final.
// The webhook URL (its path is the credential) never appears in an error or
// a log line.
package mattermost

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

// maxTextRunes is Mattermost's limit on a post's message.
const maxTextRunes = 16383

// Priorities.
const (
	urgent    = "urgent"
	important = "important"
	standard  = "standard"
)

// Notifier sends notifications to one Mattermost configuration.
type Notifier struct {
	cfg    *config.MattermostConfig
	tmpl   *template.Template
	logger *slog.Logger
	client *delivery.Client
}

var policy = delivery.Policy{Name: "mattermost", Detail: errorDetail}

// New returns a notifier for cfg (validated, global fallbacks applied by
// package config) rendering with tmpl.
func New(cfg *config.MattermostConfig, tmpl *template.Template, logger *slog.Logger) (*Notifier, error) {
	client, err := delivery.NewClient(policy, cfg.HTTPConfig)
	if err != nil {
		return nil, err
	}
	return &Notifier{cfg: cfg, tmpl: tmpl, logger: logger, client: client}, nil
}

type post struct {
	Text        string       `json:"text,omitempty"`
	Channel     string       `json:"channel,omitempty"`
	Username    string       `json:"username,omitempty"`
	IconURL     string       `json:"icon_url,omitempty"`
	IconEmoji   string       `json:"icon_emoji,omitempty"`
	Attachments []attachment `json:"attachments,omitempty"`
	Type        string       `json:"type,omitempty"`
	Props       *props       `json:"props,omitempty"`
	Priority    *priority    `json:"priority,omitempty"`
}

type attachment struct {
	Fallback   string  `json:"fallback,omitempty"`
	Color      string  `json:"color,omitempty"`
	Pretext    string  `json:"pretext,omitempty"`
	Text       string  `json:"text,omitempty"`
	AuthorName string  `json:"author_name,omitempty"`
	AuthorLink string  `json:"author_link,omitempty"`
	AuthorIcon string  `json:"author_icon,omitempty"`
	Title      string  `json:"title,omitempty"`
	TitleLink  string  `json:"title_link,omitempty"`
	Fields     []field `json:"fields,omitempty"`
	ThumbURL   string  `json:"thumb_url,omitempty"`
	Footer     string  `json:"footer,omitempty"`
	FooterIcon string  `json:"footer_icon,omitempty"`
	ImageURL   string  `json:"image_url,omitempty"`
}

type field struct {
	Title string `json:"title,omitempty"`
	Value string `json:"value,omitempty"`
	Short *bool  `json:"short,omitempty"`
}

type props struct {
	Card string `json:"card,omitempty"`
}

type priority struct {
	Priority                string `json:"priority,omitempty"`
	RequestedAck            bool   `json:"requested_ack,omitempty"`
	PersistentNotifications bool   `json:"persistent_notifications,omitempty"`
}

// Notify delivers the notification. It reports whether a failure is worth
// retrying; the error never holds the webhook URL.
func (n *Notifier) Notify(ctx context.Context, nt *notification.Notification) (bool, error) {
	p, err := n.post(nt)
	if err != nil {
		return false, notification.Failed(notification.ReasonTemplate, err)
	}
	body, err := json.Marshal(p)
	if err != nil {
		return false, fmt.Errorf("encode mattermost post: %w", err)
	}
	u, err := secret.URLValue(n.cfg.WebhookURL.RevealURL(), n.cfg.WebhookURLFile)
	if err != nil {
		// A file being rotated (a mounted secret) reads fine a moment later.
		return true, notification.Failed(notification.ReasonConfig, err)
	}
	if _, retryable, err := n.client.Send(ctx, delivery.Request{URL: u, Body: body}); err != nil {
		return retryable, fmt.Errorf("channel %q: %w", p.Channel, err)
	}
	n.logger.DebugContext(ctx, "mattermost notified", slog.String("receiver", nt.Receiver), slog.Int("alerts", len(nt.Alerts)))
	return false, nil
}

// post renders the post of nt.
func (n *Notifier) post(nt *notification.Notification) (*post, error) {
	r := n.tmpl.Renderer(nt.Data())
	c := n.cfg
	p := &post{
		Channel:   r.Text("channel", c.Channel),
		Username:  r.Text("username", c.Username),
		IconURL:   r.Text("icon_url", c.IconURL),
		IconEmoji: r.Text("icon_emoji", c.IconEmoji),
		Type:      r.Text("type", c.Type),
	}
	if c.Priority != nil && c.Priority.Priority != "" {
		p.Priority = &priority{Priority: r.Text("priority.priority", c.Priority.Priority),
			RequestedAck: c.Priority.RequestedAck, PersistentNotifications: c.Priority.PersistentNotifications}
	}
	if c.Props != nil && c.Props.Card != "" {
		p.Props = &props{Card: r.Text("props.card", c.Props.Card)}
	}
	if len(c.Attachments) == 0 {
		p.Attachments = []attachment{render(r, "", &c.MattermostAttachment)}
	} else {
		for i, a := range c.Attachments {
			p.Attachments = append(p.Attachments, render(r, fmt.Sprintf("attachments[%d].", i), a))
		}
		text, cut := delivery.TruncateRunes(r.Text("text", c.Text), maxTextRunes)
		if cut {
			n.logger.Warn("mattermost text truncated", slog.String("receiver", nt.Receiver), slog.Int("max_runes", maxTextRunes))
		}
		p.Text = text
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	n.correctPriority(p.Priority, nt.Receiver)
	return p, nil
}

func render(r *template.Renderer, path string, a *config.MattermostAttachment) attachment {
	out := attachment{
		Fallback: r.Text(path+"fallback", a.Fallback), Color: r.Text(path+"color", a.Color),
		Pretext: r.Text(path+"pretext", a.Pretext), Text: r.Text(path+"text", a.Text),
		AuthorName: r.Text(path+"author_name", a.AuthorName), AuthorLink: r.Text(path+"author_link", a.AuthorLink),
		AuthorIcon: r.Text(path+"author_icon", a.AuthorIcon), Title: r.Text(path+"title", a.Title),
		TitleLink: r.Text(path+"title_link", a.TitleLink), ThumbURL: r.Text(path+"thumb_url", a.ThumbURL),
		Footer: r.Text(path+"footer", a.Footer), FooterIcon: r.Text(path+"footer_icon", a.FooterIcon),
		ImageURL: r.Text(path+"image_url", a.ImageURL),
	}
	for i, f := range a.Fields {
		fp := fmt.Sprintf("%sfields[%d].", path, i)
		out.Fields = append(out.Fields, field{Title: r.Text(fp+"title", f.Title), Value: r.Text(fp+"value", f.Value), Short: f.Short})
	}
	return out
}

// correctPriority applies Mattermost's rules to a rendered priority.
func (n *Notifier) correctPriority(p *priority, receiver string) {
	if p == nil {
		return
	}
	switch v := strings.ToLower(p.Priority); v {
	case urgent, important, standard:
		p.Priority = v
	default:
		n.logger.Warn("mattermost priority is not urgent, important or standard: standard used", slog.String("receiver", receiver), slog.String("priority", p.Priority))
		p.Priority = standard
	}
	if p.RequestedAck && p.Priority == standard {
		n.logger.Warn("mattermost requested_ack needs a priority above standard: not requested", slog.String("receiver", receiver))
		p.RequestedAck = false
	}
	if p.PersistentNotifications && p.Priority != urgent {
		n.logger.Warn("mattermost persistent_notifications needs priority urgent: not persistent", slog.String("receiver", receiver))
		p.PersistentNotifications = false
	}
}

// errorDetail is Mattermost's explanation: its message and detailed error.
func errorDetail(_ int, body []byte) string {
	var answer struct {
		Message       string `json:"message"`
		DetailedError string `json:"detailed_error"`
	}
	if json.Unmarshal(body, &answer) != nil || answer.Message == "" {
		return ""
	}
	if answer.DetailedError != "" {
		return answer.Message + ": " + answer.DetailedError
	}
	return answer.Message
}
