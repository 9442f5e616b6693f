// Package slack is the Slack integration: one attachment-style message per
// notification, every slack_config field rendered with the templates, sent
// either to an incoming webhook (api_url / api_url_file, JSON) or with a
// bot token through the Web API (app_token / app_token_file: chat.postMessage
// and chat.update of github.com/slack-go/slack, the token in the form body).
//
// update_message (bot token, or an api_url that is the Web API's
// chat.postMessage with a bearer authorization) edits the group's message
// instead of posting a new one: Notify returns the posted message's channel
// and ts (NotifyMessage), the notifier keeps them in the notification log,
// and hands them back with the next notification of the group. A new
// notification sequence (the group's first notification after it was all
// resolved) posts a new message.
//
// Failures: network errors, timeouts, 5xx and Slack's transient errors
// (internal_error, ...) are retryable; 429 is retryable after its
// Retry-After (Alertmanager drops it); any other 4xx, an {"ok": false}
// answer and a webhook answer other than "ok" are final, with Slack's error
// named. A template error is final.
//
// The webhook URL (its path is the credential) and the token never appear
// in an error or a log line: every error leaving Notify goes through
// secret.Redact.
//
// Webhooks are posted with net/http rather than slack.PostWebhook: the
// latter's message type has no link_names and it drops the answer's body,
// so Slack's error ("invalid_token", "channel_is_archived") could not be
// named, nor a Web-API answer ({"ok": false}) told from a success.
package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	commoncfg "github.com/prometheus/common/config"
	slackapi "github.com/slack-go/slack"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/services/notifier/notification"
	"github.com/klaxon-alerts/klaxon/services/notifier/secret"
	"github.com/klaxon-alerts/klaxon/services/notifier/template"
)

// userAgent is sent with every request.
const userAgent = "Klaxon"

// maxTitleRunes is Slack's limit on an attachment title.
const maxTitleRunes = 1024

// postMessage and update are the Web API methods used.
const (
	postMessage = "chat.postMessage"
	update      = "chat.update"
)

// Errors of the configuration found at send time; final.
var (
	ErrAPIURLFile = errors.New("read api_url_file")
	ErrTokenFile  = errors.New("read app_token_file")
	// ErrUpdateNeedsAPI is returned when update_message is set but messages
	// are posted to an incoming webhook, which cannot edit them.
	ErrUpdateNeedsAPI = errors.New("update_message needs an app token or the Web API's chat.postMessage as api_url")
)

// Notifier sends notifications to one Slack configuration.
type Notifier struct {
	cfg    *config.SlackConfig
	tmpl   *template.Template
	logger *slog.Logger
	client *http.Client
	creds  secret.Set // http_config's inline credentials
	// bot: post with the app token through slack-go, to apiBase + method.
	bot     bool
	apiBase string
	timeout time.Duration
	now     func() time.Time
}

// New returns a notifier for cfg (validated, global fallbacks applied by
// package config) rendering with tmpl.
func New(cfg *config.SlackConfig, tmpl *template.Template, logger *slog.Logger) (*Notifier, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	n := &Notifier{
		cfg:     cfg,
		tmpl:    tmpl,
		logger:  logger,
		bot:     cfg.AppToken != "" || cfg.AppTokenFile != "",
		timeout: time.Duration(cfg.Timeout),
		now:     time.Now,
	}
	httpCfg := commoncfg.DefaultHTTPClientConfig
	if cfg.HTTPConfig != nil {
		httpCfg = cfg.HTTPConfig.HTTPClientConfig
	}
	if n.bot {
		// package config turned the token into a bearer authorization; here
		// slack-go sends it in the form, read at each send.
		httpCfg.Authorization = nil
		if cfg.AppURL == nil || cfg.AppURL.URL == nil {
			return nil, errors.New("slack: app token without app_url")
		}
		base := *cfg.AppURL.URL
		base.Path = base.Path[:strings.LastIndex(base.Path, "/")+1]
		base.RawQuery, base.Fragment = "", ""
		n.apiBase = base.String()
	} else {
		if cfg.APIURL == nil && cfg.APIURLFile == "" {
			return nil, errors.New("slack: neither api_url, api_url_file nor an app token is set")
		}
		if cfg.UpdateMessage && cfg.APIURL != nil && !isPostMessage(cfg.APIURL.URL) {
			return nil, ErrUpdateNeedsAPI
		}
	}
	client, err := commoncfg.NewClientFromConfig(httpCfg, "slack", commoncfg.WithUserAgent(userAgent))
	if err != nil {
		return nil, fmt.Errorf("slack http_config: %w", err)
	}
	n.client = client
	n.creds = secret.HTTPConfig(&httpCfg)
	return n, nil
}

// Notify delivers the notification; see NotifyMessage.
func (n *Notifier) Notify(ctx context.Context, nt *notification.Notification) (bool, error) {
	_, retryable, err := n.NotifyMessage(ctx, nt)
	return retryable, err
}

// NotifyMessage delivers the notification, editing nt.Message when
// update_message is set and it is not nil. With update_message it returns
// the message to edit next time; otherwise nil. It reports whether a
// failure is worth retrying; the error never holds a secret.
func (n *Notifier) NotifyMessage(ctx context.Context, nt *notification.Notification) (*notification.Message, bool, error) {
	msg, err := n.render(nt)
	if err != nil {
		return nil, false, notification.Failed(notification.ReasonTemplate, err)
	}
	if n.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, n.timeout, fmt.Errorf("slack timeout of %s reached", n.timeout))
		defer cancel()
	}
	var prev *notification.Message
	if n.cfg.UpdateMessage {
		prev = nt.Message
	}
	var sent *notification.Message
	var retryable bool
	if n.bot {
		sent, retryable, err = n.postBot(ctx, msg, prev)
	} else {
		sent, retryable, err = n.postWebhook(ctx, msg, prev)
	}
	if err != nil {
		return nil, retryable, err
	}
	n.logger.DebugContext(ctx, "slack notified",
		slog.String("receiver", nt.Receiver),
		slog.String("channel", msg.Channel),
		slog.Bool("updated", prev != nil),
		slog.Int("alerts", len(nt.Alerts)))
	if !n.cfg.UpdateMessage {
		return nil, false, nil
	}
	return sent, false, nil
}

// message is one rendered Slack message (JSON: the Web API's and incoming
// webhooks' payload).
type message struct {
	Channel     string                `json:"channel,omitempty"`
	Timestamp   string                `json:"ts,omitempty"`
	Username    string                `json:"username,omitempty"`
	IconEmoji   string                `json:"icon_emoji,omitempty"`
	IconURL     string                `json:"icon_url,omitempty"`
	LinkNames   bool                  `json:"link_names,omitempty"`
	Text        string                `json:"text,omitempty"`
	Attachments []slackapi.Attachment `json:"attachments"`
}

// render executes every templated field against the notification's data.
func (n *Notifier) render(nt *notification.Notification) (*message, error) {
	r := n.tmpl.Renderer(nt.Data())
	text := r.Text
	c := n.cfg
	title := text("title", c.Title)
	if utf8.RuneCountInString(title) > maxTitleRunes {
		title = string([]rune(title)[:maxTitleRunes-1]) + "…"
		n.logger.Warn("slack title truncated", slog.String("receiver", nt.Receiver), slog.Int("max_runes", maxTitleRunes))
	}
	markdownIn := c.MrkdwnIn
	if len(markdownIn) == 0 {
		markdownIn = []string{"fallback", "pretext", "text"}
	}
	att := slackapi.Attachment{
		Title:      title,
		TitleLink:  text("title_link", c.TitleLink),
		Pretext:    text("pretext", c.Pretext),
		Text:       text("text", c.Text),
		Fallback:   text("fallback", c.Fallback),
		CallbackID: text("callback_id", c.CallbackID),
		ImageURL:   text("image_url", c.ImageURL),
		ThumbURL:   text("thumb_url", c.ThumbURL),
		Footer:     text("footer", c.Footer),
		Color:      text("color", c.Color),
		MarkdownIn: markdownIn,
	}
	for i, f := range c.Fields {
		short := c.ShortFields
		if f.Short != nil {
			short = *f.Short
		}
		att.Fields = append(att.Fields, slackapi.AttachmentField{
			Title: text(fmt.Sprintf("fields[%d].title", i), f.Title),
			Value: text(fmt.Sprintf("fields[%d].value", i), f.Value),
			Short: short,
		})
	}
	for i, a := range c.Actions {
		p := fmt.Sprintf("actions[%d].", i)
		action := slackapi.AttachmentAction{
			Type:  slackapi.ActionType(text(p+"type", a.Type)),
			Text:  text(p+"text", a.Text),
			URL:   text(p+"url", a.URL),
			Style: text(p+"style", a.Style),
			Name:  text(p+"name", a.Name),
			Value: text(p+"value", a.Value),
		}
		if cf := a.ConfirmField; cf != nil {
			action.Confirm = &slackapi.ConfirmationField{
				Title:       text(p+"confirm.title", cf.Title),
				Text:        text(p+"confirm.text", cf.Text),
				OkText:      text(p+"confirm.ok_text", cf.OkText),
				DismissText: text(p+"confirm.dismiss_text", cf.DismissText),
			}
		}
		att.Actions = append(att.Actions, action)
	}
	msg := &message{
		Channel:     text("channel", c.Channel),
		Username:    text("username", c.Username),
		IconEmoji:   text("icon_emoji", c.IconEmoji),
		IconURL:     text("icon_url", c.IconURL),
		LinkNames:   c.LinkNames,
		Text:        text("message_text", c.MessageText),
		Attachments: []slackapi.Attachment{att},
	}
	return msg, r.Err()
}

// postBot sends msg with the app token through slack-go: chat.update of
// prev when set (falling back to a new message when Slack no longer has
// it), else chat.postMessage.
func (n *Notifier) postBot(ctx context.Context, msg *message, prev *notification.Message) (*notification.Message, bool, error) {
	token, err := n.token()
	if err != nil {
		return nil, false, notification.Failed(notification.ReasonConfig, err)
	}
	secrets := secret.Of(token).With(n.creds)
	api := slackapi.New(token, slackapi.OptionHTTPClient(n.client), slackapi.OptionAPIURL(n.apiBase))
	opts := []slackapi.MsgOption{
		slackapi.MsgOptionAttachments(msg.Attachments...),
		slackapi.MsgOptionUsername(msg.Username),
		slackapi.MsgOptionIconEmoji(msg.IconEmoji),
		slackapi.MsgOptionIconURL(msg.IconURL),
	}
	if msg.Text != "" {
		opts = append(opts, slackapi.MsgOptionText(msg.Text, false))
	}
	if msg.LinkNames {
		opts = append(opts, slackapi.MsgOptionLinkNames(true))
	}
	if prev != nil {
		channel, ts, _, err := api.UpdateMessageContext(ctx, prev.Channel, prev.ID, opts...)
		if err == nil {
			return &notification.Message{Channel: channel, ID: ts}, false, nil
		}
		if !messageGone(err) {
			retryable, err := n.classifyAPI(ctx, update, err)
			return nil, retryable, secrets.Redact(err)
		}
		n.logger.InfoContext(ctx, "slack message to update is gone, posting a new one", slog.Any("err", err))
	}
	channel, ts, err := api.PostMessageContext(ctx, msg.Channel, opts...)
	if err != nil {
		retryable, err := n.classifyAPI(ctx, postMessage, err)
		return nil, retryable, secrets.Redact(err)
	}
	return &notification.Message{Channel: channel, ID: ts}, false, nil
}

// token returns the app token, read from app_token_file at each send so
// that a rotated secret takes effect.
func (n *Notifier) token() (string, error) {
	if n.cfg.AppToken != "" {
		return n.cfg.AppToken.Reveal(), nil
	}
	b, err := os.ReadFile(n.cfg.AppTokenFile)
	if err != nil {
		// The path is configuration, not the secret; the file's content is.
		return "", fmt.Errorf("%w %s: %w", ErrTokenFile, n.cfg.AppTokenFile, err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", fmt.Errorf("%w %s: empty", ErrTokenFile, n.cfg.AppTokenFile)
	}
	return token, nil
}

// target returns the URL to post to: api_url, or the content of
// api_url_file read at each send.
func (n *Notifier) target() (*url.URL, error) {
	if n.cfg.APIURL != nil && n.cfg.APIURL.URL != nil {
		return n.cfg.APIURL.URL, nil
	}
	b, err := os.ReadFile(n.cfg.APIURLFile)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrAPIURLFile, n.cfg.APIURLFile, err)
	}
	u, err := url.Parse(strings.TrimSpace(string(b)))
	if err != nil {
		// url.Parse quotes its input: do not wrap its error.
		return nil, fmt.Errorf("%w %s: content is not a valid URL", ErrAPIURLFile, n.cfg.APIURLFile)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w %s: content is not an http(s) URL", ErrAPIURLFile, n.cfg.APIURLFile)
	}
	return u, nil
}

// isPostMessage reports whether u is a Web API chat.postMessage URL.
func isPostMessage(u *url.URL) bool {
	return u != nil && strings.HasSuffix(u.Path, "/"+postMessage)
}

// sibling returns the URL of another Web API method next to u's.
func sibling(u *url.URL, method string) *url.URL {
	s := *u
	s.Path = s.Path[:strings.LastIndex(s.Path, "/")+1] + method
	s.RawPath = ""
	return &s
}
