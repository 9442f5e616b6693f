// Package rocketchat is the Rocket.Chat integration: one message per
// notification, POSTed to <api_url>api/v1/chat.postMessage with the
// personal access token in X-Auth-Token and its user id in X-User-Id.
//
// As Alertmanager: the message is one attachment (title cut to 1024 runes,
// title link, text, image and thumb URLs, color, fields whose short
// defaults to short_fields, actions as buttons with text, url and msg),
// with the channel, emoji and avatar (icon_url) beside it. Token and user
// id are read at each send (Alertmanager reads them once, at start).
//
// Failures: Rocket.Chat answers {"success": false, "error": "..."} (also
// with 200, which is final); 429, 5xx and network errors are retried. The
// channel is named in the error; the token and the user id never are.
package rocketchat

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/services/notifier/delivery"
	"github.com/klaxon-alerts/klaxon/services/notifier/notification"
	"github.com/klaxon-alerts/klaxon/services/notifier/secret"
	"github.com/klaxon-alerts/klaxon/services/notifier/template"
)

// maxTitleRunes is the limit of the attachment's title.
const maxTitleRunes = 1024

// Notifier sends notifications to one Rocket.Chat configuration.
type Notifier struct {
	cfg    *config.RocketchatConfig
	tmpl   *template.Template
	logger *slog.Logger
	client *delivery.Client
}

var policy = delivery.Policy{Name: "rocketchat", Detail: errorDetail, Refused: refused}

// New returns a notifier for cfg (validated, global fallbacks applied by
// package config) rendering with tmpl.
func New(cfg *config.RocketchatConfig, tmpl *template.Template, logger *slog.Logger) (*Notifier, error) {
	if cfg.APIURL == nil || cfg.APIURL.URL == nil {
		return nil, fmt.Errorf("rocketchat: no api_url")
	}
	client, err := delivery.NewClient(policy, cfg.HTTPConfig)
	if err != nil {
		return nil, err
	}
	return &Notifier{cfg: cfg, tmpl: tmpl, logger: logger, client: client}, nil
}

type postMessage struct {
	Channel     string       `json:"channel,omitempty"`
	Text        string       `json:"text,omitempty"`
	Emoji       string       `json:"emoji,omitempty"`
	Avatar      string       `json:"avatar,omitempty"`
	Attachments []attachment `json:"attachments,omitempty"`
}

type attachment struct {
	Title     string   `json:"title,omitempty"`
	TitleLink string   `json:"title_link,omitempty"`
	Text      string   `json:"text,omitempty"`
	ImageURL  string   `json:"image_url,omitempty"`
	ThumbURL  string   `json:"thumb_url,omitempty"`
	Color     string   `json:"color,omitempty"`
	Fields    []field  `json:"fields,omitempty"`
	Actions   []action `json:"actions,omitempty"`
}

type field struct {
	Short bool   `json:"short"`
	Title string `json:"title,omitempty"`
	Value string `json:"value,omitempty"`
}

type action struct {
	Type            string `json:"type"`
	Text            string `json:"text,omitempty"`
	URL             string `json:"url,omitempty"`
	IsWebView       bool   `json:"is_webview"`
	Msg             string `json:"msg,omitempty"`
	MsgInChatWindow bool   `json:"msg_in_chat_window"`
}

// Notify delivers the notification. It reports whether a failure is worth
// retrying; the error never holds the token or the user id.
func (n *Notifier) Notify(ctx context.Context, nt *notification.Notification) (bool, error) {
	token, err := secret.Value(secretOf(n.cfg.Token), n.cfg.TokenFile)
	if err != nil {
		// A file being rotated (a mounted secret) reads fine a moment later.
		return true, notification.Failed(notification.ReasonConfig, err)
	}
	tokenID, err := secret.Value(secretOf(n.cfg.TokenID), n.cfg.TokenIDFile)
	if err != nil {
		return true, notification.Failed(notification.ReasonConfig, err)
	}
	msg, err := n.message(nt)
	if err != nil {
		return false, notification.Failed(notification.ReasonTemplate, err)
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return false, fmt.Errorf("encode rocketchat message: %w", err)
	}
	header := http.Header{}
	header.Set("X-Auth-Token", token)
	header.Set("X-User-Id", tokenID)
	u := n.cfg.APIURL.JoinPath("api/v1/chat.postMessage")
	if _, retryable, err := n.client.Send(ctx, delivery.Request{URL: u, Header: header, Body: body, Secrets: secret.Of(token, tokenID)}); err != nil {
		return retryable, fmt.Errorf("channel %q: %w", msg.Channel, err)
	}
	n.logger.DebugContext(ctx, "rocketchat notified", slog.String("receiver", nt.Receiver), slog.String("channel", msg.Channel))
	return false, nil
}

// message renders the message and its attachment.
func (n *Notifier) message(nt *notification.Notification) (*postMessage, error) {
	c := n.cfg
	r := n.tmpl.Renderer(nt.Data())
	title, cut := delivery.TruncateRunes(r.Text("title", c.Title), maxTitleRunes)
	if cut {
		n.logger.Warn("rocketchat title truncated", slog.String("receiver", nt.Receiver), slog.Int("max_runes", maxTitleRunes))
	}
	att := attachment{
		Title: title, TitleLink: r.Text("title_link", c.TitleLink), Text: r.Text("text", c.Text),
		ImageURL: r.Text("image_url", c.ImageURL), ThumbURL: r.Text("thumb_url", c.ThumbURL), Color: r.Text("color", c.Color),
	}
	for i, f := range c.Fields {
		short := c.ShortFields
		if f.Short != nil {
			short = *f.Short
		}
		p := fmt.Sprintf("fields[%d].", i)
		att.Fields = append(att.Fields, field{Short: short, Title: r.Text(p+"title", f.Title), Value: r.Text(p+"value", f.Value)})
	}
	for i, a := range c.Actions {
		p := fmt.Sprintf("actions[%d].", i)
		// Only buttons are supported, as in Alertmanager.
		att.Actions = append(att.Actions, action{Type: "button", Text: r.Text(p+"text", a.Text), URL: r.Text(p+"url", a.URL), Msg: r.Text(p+"msg", a.Msg)})
	}
	msg := &postMessage{
		Channel: r.Text("channel", c.Channel), Emoji: r.Text("emoji", c.Emoji), Avatar: r.Text("icon_url", c.IconURL),
		Attachments: []attachment{att},
	}
	return msg, r.Err()
}

func secretOf(s *config.Secret) string {
	if s == nil {
		return ""
	}
	return s.Reveal()
}

// answer is Rocket.Chat's answer.
type answer struct {
	Success bool   `json:"success"`
	Error   string `json:"error"`
}

func errorDetail(_ int, body []byte) string {
	var a answer
	if json.Unmarshal(body, &a) != nil {
		return ""
	}
	return a.Error
}

// refused reads a 2xx answer that is not {"success": true}.
func refused(body []byte) error {
	var a answer
	if json.Unmarshal(body, &a) != nil {
		return fmt.Errorf("rocketchat answer is not Rocket.Chat's JSON")
	}
	if !a.Success {
		return fmt.Errorf("error response from Rocketchat: %s", a.Error)
	}
	return nil
}
