// Package wechat is the WeChat Work (WeCom) integration: an application
// message POSTed to <api_url>message/send?access_token=..., the access
// token bought from <api_url>gettoken with the corp id and the
// application's secret.
//
// As Alertmanager: the token is kept and reused until it expires (WeChat
// says when, in expires_in; Alertmanager assumes two hours) or WeChat
// answers errcode 42001 (expired), which drops it and retries; the message
// goes to to_user, to_party and to_tag with agent_id, as text or markdown
// (message_type), with safe "0". WeChat answers errors in a 200's errcode:
// 0 is success, -1 (busy) and an expired or invalid token are retried, any
// other errcode is final with WeChat's errmsg.
//
// Klaxon differs in that the secret is not a template (Alertmanager
// renders it: a secret holding "{{" would break), the secret file is read
// whenever a token is bought, and only the body of the chosen message type
// is sent. The secret and the token are in URLs' queries: they never
// appear in an error or a log line.
package wechat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/services/notifier/delivery"
	"github.com/klaxon-alerts/klaxon/services/notifier/notification"
	"github.com/klaxon-alerts/klaxon/services/notifier/secret"
	"github.com/klaxon-alerts/klaxon/services/notifier/template"
)

// WeChat's errcodes that matter here.
const (
	codeOK           = 0
	codeBusy         = -1
	codeInvalidToken = 40014
	codeTokenExpired = 42001
)

// defaultTokenLife is how long a token is used when WeChat does not say
// (Alertmanager's rule).
const defaultTokenLife = 2 * time.Hour

// tokenMargin is how long before its expiry a token is renewed, so that a
// message is not sent with a token that expires on the way.
const tokenMargin = time.Minute

// Notifier sends notifications to one WeChat configuration.
type Notifier struct {
	cfg    *config.WeChatConfig
	tmpl   *template.Template
	logger *slog.Logger
	client *delivery.Client
	now    func() time.Time

	mu        sync.Mutex
	token     string
	expiresAt time.Time
}

var policy = delivery.Policy{Name: "wechat", Detail: errorDetail}

// New returns a notifier for cfg (validated, global fallbacks applied by
// package config) rendering with tmpl.
func New(cfg *config.WeChatConfig, tmpl *template.Template, logger *slog.Logger) (*Notifier, error) {
	if cfg.APIURL == nil || cfg.APIURL.URL == nil {
		return nil, fmt.Errorf("wechat: no api_url")
	}
	client, err := delivery.NewClient(policy, cfg.HTTPConfig)
	if err != nil {
		return nil, err
	}
	return &Notifier{cfg: cfg, tmpl: tmpl, logger: logger, client: client, now: time.Now}, nil
}

type message struct {
	ToUser   string   `json:"touser,omitempty"`
	ToParty  string   `json:"toparty,omitempty"`
	ToTag    string   `json:"totag,omitempty"`
	AgentID  string   `json:"agentid,omitempty"`
	Safe     string   `json:"safe"`
	Type     string   `json:"msgtype"`
	Text     *content `json:"text,omitempty"`
	Markdown *content `json:"markdown,omitempty"`
}

type content struct {
	Content string `json:"content"`
}

// answer is WeChat's answer to both calls.
type answer struct {
	Code        int    `json:"errcode"`
	Message     string `json:"errmsg"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
}

// Notify delivers the notification. It reports whether a failure is worth
// retrying; the error never holds the secret or the token.
func (n *Notifier) Notify(ctx context.Context, nt *notification.Notification) (bool, error) {
	r := n.tmpl.Renderer(nt.Data())
	corpID := r.Text("corp_id", n.cfg.CorpID)
	msg := message{
		ToUser: r.Text("to_user", n.cfg.ToUser), ToParty: r.Text("to_party", n.cfg.ToParty),
		ToTag: r.Text("to_tag", n.cfg.ToTag), AgentID: r.Text("agent_id", n.cfg.AgentID),
		Safe: "0", Type: n.cfg.MessageType,
	}
	text := &content{Content: r.Text("message", n.cfg.Message)}
	if msg.Type == "markdown" {
		msg.Markdown = text
	} else {
		msg.Text = text
	}
	if err := r.Err(); err != nil {
		return false, notification.Failed(notification.ReasonTemplate, err)
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return false, fmt.Errorf("encode wechat message: %w", err)
	}
	token, retryable, err := n.accessToken(ctx, corpID)
	if err != nil {
		return retryable, err
	}
	u := n.cfg.APIURL.JoinPath("message/send")
	u.RawQuery = url.Values{"access_token": {token}}.Encode()
	raw, retryable, err := n.client.Send(ctx, delivery.Request{URL: u, Body: body, Secrets: secret.Of(token)})
	if err != nil {
		return retryable, err
	}
	a, err := decode(raw)
	if err != nil {
		return true, notification.Failed(notification.ReasonServerError, err)
	}
	switch a.Code {
	case codeOK:
		n.logger.DebugContext(ctx, "wechat notified", slog.String("receiver", nt.Receiver), slog.String("msgtype", msg.Type))
		return false, nil
	case codeTokenExpired, codeInvalidToken:
		n.dropToken(token)
		return true, notification.Failed(notification.ReasonServerError, answerError(a, secret.Of(token)))
	case codeBusy:
		return true, notification.Failed(notification.ReasonServerError, answerError(a, secret.Of(token)))
	}
	return false, notification.Failed(notification.ReasonClientError, answerError(a, secret.Of(token)))
}

// accessToken returns the cached token or buys one from gettoken. The
// lock is held while buying: concurrent notifications wait for one token
// rather than each buying its own.
func (n *Notifier) accessToken(ctx context.Context, corpID string) (string, bool, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.now()
	if n.token != "" && now.Before(n.expiresAt) {
		return n.token, false, nil
	}
	apiSecret, err := secret.Value(n.cfg.APISecret.Reveal(), n.cfg.APISecretFile)
	if err != nil {
		// A file being rotated (a mounted secret) reads fine a moment later.
		return "", true, notification.Failed(notification.ReasonConfig, err)
	}
	u := n.cfg.APIURL.JoinPath("gettoken")
	u.RawQuery = url.Values{"corpid": {corpID}, "corpsecret": {apiSecret}}.Encode()
	secrets := secret.Of(apiSecret)
	raw, retryable, err := n.client.Send(ctx, delivery.Request{Method: http.MethodGet, URL: u, Secrets: secrets})
	if err != nil {
		return "", retryable, fmt.Errorf("wechat gettoken: %w", err)
	}
	a, err := decode(raw)
	if err != nil {
		return "", true, notification.Failed(notification.ReasonServerError, fmt.Errorf("wechat gettoken: %w", err))
	}
	if a.Code == codeBusy {
		return "", true, notification.Failed(notification.ReasonServerError, fmt.Errorf("wechat gettoken: %w", answerError(a, secrets)))
	}
	if a.Code != codeOK || a.AccessToken == "" {
		// A wrong secret or corp id: final, as in Alertmanager.
		return "", false, notification.Failed(notification.ReasonClientError,
			fmt.Errorf("wechat gettoken: no access token for corp id %q: %w", corpID, answerError(a, secrets)))
	}
	life := defaultTokenLife
	if a.ExpiresIn > 0 {
		life = time.Duration(a.ExpiresIn) * time.Second
	}
	n.token, n.expiresAt = a.AccessToken, now.Add(life-min(tokenMargin, life/2))
	return n.token, false, nil
}

// dropToken forgets token, unless another notification bought a new one
// meanwhile.
func (n *Notifier) dropToken(token string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.token == token {
		n.token = ""
	}
}

func decode(raw []byte) (answer, error) {
	var a answer
	if err := json.Unmarshal(raw, &a); err != nil {
		return a, errors.New("wechat answer is not WeChat's JSON")
	}
	return a, nil
}

// answerError is WeChat's errcode and errmsg, secrets scrubbed.
func answerError(a answer, secrets secret.Set) error {
	return fmt.Errorf("errcode %d: %s", a.Code, delivery.ErrorText(a.Message, secrets))
}

// errorDetail is WeChat's errmsg in a non-2xx answer.
func errorDetail(_ int, body []byte) string {
	var a answer
	if json.Unmarshal(body, &a) != nil {
		return ""
	}
	return a.Message
}
