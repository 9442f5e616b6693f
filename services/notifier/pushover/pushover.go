// Package pushover is the Pushover integration: one message per
// notification, POSTed as a form to the Messages API
// (https://api.pushover.net/1/messages.json) with the application token
// and the user (or group) key.
//
// As Alertmanager: the title is cut to 250 runes, the message to 1024 (then
// trimmed; an empty message becomes "(no details)", which Pushover
// requires), the supplementary URL to 512; priority is a template (2,
// emergency, while firing by default), retry and expire are sent in
// seconds with every message (Pushover reads them for priority 2 only), ttl
// only when set; html=1 renders the message with html/template (values
// escaped), monospace=1 is the alternative.
//
// Deliberate difference: Alertmanager puts the token and the user key in
// the query string of the POST; Klaxon sends them in the form body, which
// Pushover documents, so that they stay out of proxies' access logs.
//
// Failures: Pushover answers {"status": 0, "errors": [...]} with a 4xx,
// final with its error text; 429, 5xx and network errors are retried. The
// token and the user key never appear in an error or a log line.
package pushover

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/services/notifier/delivery"
	"github.com/klaxon-alerts/klaxon/services/notifier/notification"
	"github.com/klaxon-alerts/klaxon/services/notifier/secret"
	"github.com/klaxon-alerts/klaxon/services/notifier/template"
)

// Pushover's limits, in runes.
const (
	maxTitleRunes   = 250
	maxMessageRunes = 1024
	maxURLRunes     = 512
)

// Notifier sends notifications to one Pushover configuration.
type Notifier struct {
	cfg    *config.PushoverConfig
	tmpl   *template.Template
	logger *slog.Logger
	client *delivery.Client
}

var policy = delivery.Policy{Name: "pushover", Detail: errorDetail}

// New returns a notifier for cfg (validated, defaults applied by package
// config) rendering with tmpl.
func New(cfg *config.PushoverConfig, tmpl *template.Template, logger *slog.Logger) (*Notifier, error) {
	if cfg.APIURL == nil || cfg.APIURL.URL == nil {
		return nil, fmt.Errorf("pushover: no api_url")
	}
	client, err := delivery.NewClient(policy, cfg.HTTPConfig)
	if err != nil {
		return nil, err
	}
	return &Notifier{cfg: cfg, tmpl: tmpl, logger: logger, client: client}, nil
}

// Notify delivers the notification. It reports whether a failure is worth
// retrying; the error never holds the token or the user key.
func (n *Notifier) Notify(ctx context.Context, nt *notification.Notification) (bool, error) {
	token, err := secret.Value(n.cfg.Token.Reveal(), n.cfg.TokenFile)
	if err != nil {
		// A file being rotated (a mounted secret) reads fine a moment later.
		return true, notification.Failed(notification.ReasonConfig, err)
	}
	userKey, err := secret.Value(n.cfg.UserKey.Reveal(), n.cfg.UserKeyFile)
	if err != nil {
		return true, notification.Failed(notification.ReasonConfig, err)
	}
	secrets := secret.Of(token, userKey)
	form, err := n.form(nt, token, userKey)
	if err != nil {
		return false, secrets.Redact(notification.Failed(notification.ReasonTemplate, err))
	}
	if _, retryable, err := n.client.Send(ctx, delivery.Request{
		URL: n.cfg.APIURL.URL, ContentType: "application/x-www-form-urlencoded",
		Body: []byte(form.Encode()), Secrets: secrets,
	}); err != nil {
		return retryable, err
	}
	n.logger.DebugContext(ctx, "pushover notified", slog.String("receiver", nt.Receiver), slog.Int("alerts", len(nt.Alerts)))
	return false, nil
}

// form renders the message's parameters.
func (n *Notifier) form(nt *notification.Notification, token, userKey string) (url.Values, error) {
	r := n.tmpl.Renderer(nt.Data())
	p := url.Values{}
	p.Set("token", r.Text("token", token))
	p.Set("user", r.Text("user_key", userKey))
	p.Set("title", n.cut("title", r.Text("title", n.cfg.Title), maxTitleRunes, nt))

	var message string
	if n.cfg.HTML {
		p.Set("html", "1")
		message = r.HTML("message", n.cfg.Message)
	} else {
		message = r.Text("message", n.cfg.Message)
	}
	if n.cfg.Monospace {
		p.Set("monospace", "1")
	}
	message = strings.TrimSpace(n.cut("message", message, maxMessageRunes, nt))
	if message == "" {
		message = "(no details)" // Pushover refuses an empty message
	}
	p.Set("message", message)
	p.Set("url", n.cut("url", r.Text("url", n.cfg.URL), maxURLRunes, nt))
	p.Set("url_title", r.Text("url_title", n.cfg.URLTitle))
	p.Set("priority", r.Text("priority", n.cfg.Priority))
	p.Set("retry", seconds(n.cfg.Retry))
	p.Set("expire", seconds(n.cfg.Expire))
	p.Set("device", r.Text("device", n.cfg.Device))
	p.Set("sound", r.Text("sound", n.cfg.Sound))
	if time.Duration(n.cfg.TTL) >= time.Second {
		p.Set("ttl", seconds(n.cfg.TTL))
	}
	return p, r.Err()
}

// cut truncates a field to its limit, logging when it cuts.
func (n *Notifier) cut(field, s string, limit int, nt *notification.Notification) string {
	s, cut := delivery.TruncateRunes(s, limit)
	if cut {
		n.logger.Warn("pushover field truncated", slog.String("field", field), slog.String("receiver", nt.Receiver), slog.Int("max_runes", limit))
	}
	return s
}

func seconds[D ~int64](d D) string {
	return strconv.FormatInt(int64(time.Duration(d)/time.Second), 10)
}

// errorDetail is Pushover's error text: {"errors": ["..."]}.
func errorDetail(_ int, body []byte) string {
	var a struct {
		Errors []string `json:"errors"`
	}
	if json.Unmarshal(body, &a) != nil {
		return ""
	}
	return strings.Join(a.Errors, "; ")
}
