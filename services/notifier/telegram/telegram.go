// Package telegram is the Telegram integration: one message per
// notification, sent with the Bot API's sendMessage (POST
// <api_url>/bot<token>/sendMessage, JSON) to chat_id, in message_thread_id
// when set, with link previews disabled and the configured parse_mode.
//
// As Alertmanager: with parse_mode HTML the message is rendered with
// html/template (label values are escaped) and a message over Telegram's
// 4096 runes is replaced by a note (cutting HTML would break its tags);
// with the other modes it is cut to 4096 runes. The bot token and the chat
// id may be read from files, at each send.
//
// Failures: Telegram answers {"ok": false, "error_code", "description"}:
// network errors, timeouts, 5xx and 429 (after parameters.retry_after)
// are retryable; any other refusal ("Bad Request: chat not found") is
// final with Telegram's description, where Alertmanager retries every
// failure. The bot token (it is in the URL) never appears in an error or a
// log line.
package telegram

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/services/notifier/delivery"
	"github.com/klaxon-alerts/klaxon/services/notifier/notification"
	"github.com/klaxon-alerts/klaxon/services/notifier/secret"
	"github.com/klaxon-alerts/klaxon/services/notifier/template"
)

// maxMessageRunes is Telegram's limit on a message's text.
const maxMessageRunes = 4096

// tooLong replaces an HTML message over the limit.
const tooLong = "Klaxon notification could not be sent: message length exceeds Telegram limits.\n" +
	"Please check the template used for producing the message content."

// Notifier sends notifications to one Telegram configuration.
type Notifier struct {
	cfg    *config.TelegramConfig
	tmpl   *template.Template
	logger *slog.Logger
	client *delivery.Client
}

var policy = delivery.Policy{Name: "telegram", Detail: errorDetail, RetryAfter: retryAfter, Refused: refused}

// New returns a notifier for cfg (validated, global fallbacks applied by
// package config) rendering with tmpl.
func New(cfg *config.TelegramConfig, tmpl *template.Template, logger *slog.Logger) (*Notifier, error) {
	if cfg.APIURL == nil || cfg.APIURL.URL == nil {
		return nil, fmt.Errorf("telegram: no api_url")
	}
	client, err := delivery.NewClient(policy, cfg.HTTPConfig)
	if err != nil {
		return nil, err
	}
	return &Notifier{cfg: cfg, tmpl: tmpl, logger: logger, client: client}, nil
}

// sendMessage is the body of the Bot API's sendMessage.
type sendMessage struct {
	ChatID                int64  `json:"chat_id"`
	MessageThreadID       int    `json:"message_thread_id,omitempty"`
	Text                  string `json:"text"`
	ParseMode             string `json:"parse_mode,omitempty"`
	DisableWebPagePreview bool   `json:"disable_web_page_preview"`
	DisableNotification   bool   `json:"disable_notification,omitempty"`
}

// Notify delivers the notification. It reports whether a failure is worth
// retrying; the error never holds the bot token.
func (n *Notifier) Notify(ctx context.Context, nt *notification.Notification) (bool, error) {
	text, err := n.text(nt)
	if err != nil {
		return false, notification.Failed(notification.ReasonTemplate, err)
	}
	token, err := secret.Value(n.cfg.BotToken.Reveal(), n.cfg.BotTokenFile)
	if err != nil {
		// A file being rotated (a mounted secret) reads fine a moment later.
		return true, notification.Failed(notification.ReasonConfig, err)
	}
	chatID, err := n.chatID()
	if err != nil {
		return true, notification.Failed(notification.ReasonConfig, err)
	}
	body, err := json.Marshal(sendMessage{
		ChatID: chatID, MessageThreadID: n.cfg.MessageThreadID, Text: text, ParseMode: n.cfg.ParseMode,
		DisableWebPagePreview: true, DisableNotification: n.cfg.DisableNotifications,
	})
	if err != nil {
		return false, fmt.Errorf("encode telegram message: %w", err)
	}
	u := *n.cfg.APIURL.URL
	u.Path = strings.TrimSuffix(u.Path, "/") + "/bot" + token + "/sendMessage"
	u.RawPath = ""
	if _, retryable, err := n.client.Send(ctx, delivery.Request{URL: &u, Body: body, Secrets: secret.Of(token)}); err != nil {
		return retryable, err
	}
	n.logger.DebugContext(ctx, "telegram notified", slog.String("receiver", nt.Receiver), slog.Int("alerts", len(nt.Alerts)))
	return false, nil
}

// text renders the message within Telegram's limit.
func (n *Notifier) text(nt *notification.Notification) (string, error) {
	r := n.tmpl.Renderer(nt.Data())
	if n.cfg.ParseMode == "HTML" {
		text := r.HTML("message", n.cfg.Message)
		if len([]rune(text)) > maxMessageRunes {
			n.logger.Warn("telegram message too long, replaced by a note", slog.String("receiver", nt.Receiver), slog.Int("max_runes", maxMessageRunes))
			text = tooLong
		}
		return text, r.Err()
	}
	text, cut := delivery.TruncateRunes(r.Text("message", n.cfg.Message), maxMessageRunes)
	if cut {
		n.logger.Warn("telegram message truncated", slog.String("receiver", nt.Receiver), slog.Int("max_runes", maxMessageRunes))
	}
	return text, r.Err()
}

// chatID is chat_id, or the number in chat_id_file read at each send.
func (n *Notifier) chatID() (int64, error) {
	if n.cfg.ChatIDFile == "" {
		return n.cfg.ChatID, nil
	}
	raw, err := secret.Value("", n.cfg.ChatIDFile)
	if err != nil {
		return 0, err
	}
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("chat_id_file %s: not a chat id", n.cfg.ChatIDFile)
	}
	return id, nil
}

// answer is the Bot API's answer.
type answer struct {
	OK          bool   `json:"ok"`
	ErrorCode   int    `json:"error_code"`
	Description string `json:"description"`
	Parameters  struct {
		RetryAfter *int `json:"retry_after"`
	} `json:"parameters"`
}

func errorDetail(_ int, body []byte) string {
	var a answer
	if json.Unmarshal(body, &a) != nil {
		return ""
	}
	return a.Description
}

func retryAfter(body []byte) (time.Duration, bool) {
	var a answer
	if json.Unmarshal(body, &a) != nil || a.Parameters.RetryAfter == nil || *a.Parameters.RetryAfter < 0 {
		return 0, false
	}
	return time.Duration(*a.Parameters.RetryAfter) * time.Second, true
}

// refused reads a 2xx answer that is not {"ok": true}.
func refused(body []byte) error {
	var a answer
	if json.Unmarshal(body, &a) != nil {
		return fmt.Errorf("telegram answer is not the Bot API's JSON")
	}
	if !a.OK {
		return fmt.Errorf("telegram refused the message: %s", a.Description)
	}
	return nil
}
