package config

import (
	"errors"
	"fmt"
	"net/textproto"
	"slices"

	"github.com/prometheus/common/model"
)

// Receiver is a named set of notification integrations.
type Receiver struct {
	Name           string           `yaml:"name" json:"name"`
	WebhookConfigs []*WebhookConfig `yaml:"webhook_configs,omitempty" json:"webhook_configs,omitempty"`
	SlackConfigs   []*SlackConfig   `yaml:"slack_configs,omitempty" json:"slack_configs,omitempty"`
	EmailConfigs   []*EmailConfig   `yaml:"email_configs,omitempty" json:"email_configs,omitempty"`
	// SendResolvedSilenced is Klaxon's opt-in (Alertmanager has none: its
	// issue 226) to still notify this receiver of an alert's resolution while
	// a silence mutes the alert; firing alerts stay silenced. Alertmanager
	// rejects the key, so a file that sets it is for Klaxon only.
	SendResolvedSilenced bool `yaml:"send_resolved_silenced,omitempty" json:"send_resolved_silenced,omitempty"`

	pos position
}

// UnsupportedIntegrations are the Alertmanager integrations Klaxon
// recognises but does not implement yet. A receiver that configures one is
// rejected with "integration X is not supported yet".
var UnsupportedIntegrations = []string{
	"discord_configs", "incidentio_configs", "jira_configs", "mattermost_configs",
	"msteams_configs", "msteamsv2_configs", "opsgenie_configs", "pagerduty_configs",
	"pushover_configs", "rocketchat_configs", "sns_configs", "telegram_configs",
	"victorops_configs", "webex_configs", "wechat_configs",
}

// ErrUnsupportedIntegration is wrapped by the error for an integration that
// Klaxon recognises but does not support yet.
var ErrUnsupportedIntegration = errors.New("not supported yet")

func (r *Receiver) unknownField(key string) error {
	if slices.Contains(UnsupportedIntegrations, key) {
		return fmt.Errorf("integration %s is %w", key, ErrUnsupportedIntegration)
	}
	return nil
}

func (r *Receiver) validate() error {
	if r.Name == "" {
		return errors.New("missing name in receiver")
	}
	return nil
}

func (r *Receiver) setPosition(p position) { r.pos = p }

// Integrations counts the receiver's integrations.
func (r *Receiver) Integrations() int {
	return len(r.WebhookConfigs) + len(r.SlackConfigs) + len(r.EmailConfigs)
}

// WebhookConfig is a generic webhook (Alertmanager's payload version 4).
type WebhookConfig struct {
	// SendResolved defaults to true for webhooks.
	SendResolved bool              `yaml:"send_resolved" json:"send_resolved"`
	HTTPConfig   *HTTPClientConfig `yaml:"http_config,omitempty" json:"http_config,omitempty"`
	// URL or URLFile (a file holding the URL, read at send time): exactly one.
	URL     *SecretURL `yaml:"url,omitempty" json:"url,omitempty"`
	URLFile string     `yaml:"url_file,omitempty" json:"url_file,omitempty"`
	// MaxAlerts caps the alerts per message (0: no limit).
	MaxAlerts uint64 `yaml:"max_alerts" json:"max_alerts"`
	// Timeout bounds one request (0: no timeout beyond the notifier's).
	Timeout model.Duration `yaml:"timeout" json:"timeout"`
}

func (c *WebhookConfig) setDefaults() { *c = WebhookConfig{SendResolved: true} }

func (c *WebhookConfig) validate() error {
	if c.URL == nil && c.URLFile == "" {
		return errors.New("one of url or url_file must be configured")
	}
	return exclusive("url", c.URL != nil, "url_file", c.URLFile != "")
}

// SlackConfig is a Slack notification (incoming webhook or chat.postMessage
// with an app token). Text fields are templates.
type SlackConfig struct {
	// SendResolved defaults to false for Slack.
	SendResolved bool              `yaml:"send_resolved" json:"send_resolved"`
	HTTPConfig   *HTTPClientConfig `yaml:"http_config,omitempty" json:"http_config,omitempty"`

	// APIURL or APIURLFile; when neither is set, the global ones are used.
	APIURL     *SecretURL `yaml:"api_url,omitempty" json:"api_url,omitempty"`
	APIURLFile string     `yaml:"api_url_file,omitempty" json:"api_url_file,omitempty"`
	// AppToken or AppTokenFile: a bot token sent as a bearer token to
	// AppURL (default the global slack_app_url).
	AppToken     Secret `yaml:"app_token,omitempty" json:"app_token,omitempty"`
	AppTokenFile string `yaml:"app_token_file,omitempty" json:"app_token_file,omitempty"`
	AppURL       *URL   `yaml:"app_url,omitempty" json:"app_url,omitempty"`

	Channel     string         `yaml:"channel,omitempty" json:"channel,omitempty"`
	Username    string         `yaml:"username,omitempty" json:"username,omitempty"`
	Color       string         `yaml:"color,omitempty" json:"color,omitempty"`
	Title       string         `yaml:"title,omitempty" json:"title,omitempty"`
	TitleLink   string         `yaml:"title_link,omitempty" json:"title_link,omitempty"`
	Pretext     string         `yaml:"pretext,omitempty" json:"pretext,omitempty"`
	Text        string         `yaml:"text,omitempty" json:"text,omitempty"`
	Fields      []*SlackField  `yaml:"fields,omitempty" json:"fields,omitempty"`
	ShortFields bool           `yaml:"short_fields" json:"short_fields,omitempty"`
	Footer      string         `yaml:"footer,omitempty" json:"footer,omitempty"`
	Fallback    string         `yaml:"fallback,omitempty" json:"fallback,omitempty"`
	CallbackID  string         `yaml:"callback_id,omitempty" json:"callback_id,omitempty"`
	IconEmoji   string         `yaml:"icon_emoji,omitempty" json:"icon_emoji,omitempty"`
	IconURL     string         `yaml:"icon_url,omitempty" json:"icon_url,omitempty"`
	ImageURL    string         `yaml:"image_url,omitempty" json:"image_url,omitempty"`
	ThumbURL    string         `yaml:"thumb_url,omitempty" json:"thumb_url,omitempty"`
	LinkNames   bool           `yaml:"link_names" json:"link_names,omitempty"`
	MrkdwnIn    []string       `yaml:"mrkdwn_in,omitempty" json:"mrkdwn_in,omitempty"`
	Actions     []*SlackAction `yaml:"actions,omitempty" json:"actions,omitempty"`
	// MessageText is the message's own text, above the attachment.
	MessageText string `yaml:"message_text,omitempty" json:"message_text,omitempty"`
	// UpdateMessage edits the group's message (chat.update) instead of
	// posting a new one; it needs an app token.
	UpdateMessage bool `yaml:"update_message" json:"update_message,omitempty"`
	// Timeout bounds one request (0: no timeout beyond the notifier's).
	Timeout model.Duration `yaml:"timeout" json:"timeout"`
}

func (c *SlackConfig) setDefaults() {
	*c = SlackConfig{
		Color:      `{{ if eq .Status "firing" }}danger{{ else }}good{{ end }}`,
		Username:   `{{ template "slack.default.username" . }}`,
		Title:      `{{ template "slack.default.title" . }}`,
		TitleLink:  `{{ template "slack.default.titlelink" . }}`,
		IconEmoji:  `{{ template "slack.default.iconemoji" . }}`,
		IconURL:    `{{ template "slack.default.iconurl" . }}`,
		Pretext:    `{{ template "slack.default.pretext" . }}`,
		Text:       `{{ template "slack.default.text" . }}`,
		Fallback:   `{{ template "slack.default.fallback" . }}`,
		CallbackID: `{{ template "slack.default.callbackid" . }}`,
		Footer:     `{{ template "slack.default.footer" . }}`,
	}
}

func (c *SlackConfig) validate() error {
	errs := []error{
		exclusive("api_url", c.APIURL != nil, "api_url_file", c.APIURLFile != ""),
		exclusive("app_token", c.AppToken != "", "app_token_file", c.AppTokenFile != ""),
	}
	if (c.APIURL != nil || c.APIURLFile != "") && (c.AppToken != "" || c.AppTokenFile != "") {
		errs = append(errs, inField("app_token", errors.New("at most one of api_url/api_url_file & app_token/app_token_file must be configured")))
	}
	return errors.Join(errs...)
}

// SlackField is one attachment field.
type SlackField struct {
	Title string `yaml:"title,omitempty" json:"title,omitempty"`
	Value string `yaml:"value,omitempty" json:"value,omitempty"`
	Short *bool  `yaml:"short,omitempty" json:"short,omitempty"`
}

func (f *SlackField) validate() error {
	if f.Title == "" {
		return errors.New("missing title in Slack field configuration")
	}
	if f.Value == "" {
		return errors.New("missing value in Slack field configuration")
	}
	return nil
}

// SlackAction is one attachment action (a button).
type SlackAction struct {
	Type         string                  `yaml:"type,omitempty" json:"type,omitempty"`
	Text         string                  `yaml:"text,omitempty" json:"text,omitempty"`
	URL          string                  `yaml:"url,omitempty" json:"url,omitempty"`
	Style        string                  `yaml:"style,omitempty" json:"style,omitempty"`
	Name         string                  `yaml:"name,omitempty" json:"name,omitempty"`
	Value        string                  `yaml:"value,omitempty" json:"value,omitempty"`
	ConfirmField *SlackConfirmationField `yaml:"confirm,omitempty" json:"confirm,omitempty"`
}

func (a *SlackAction) validate() error {
	switch {
	case a.Type == "":
		return errors.New("missing type in Slack action configuration")
	case a.Text == "":
		return errors.New("missing text in Slack action configuration")
	case a.URL != "":
		// A link button: the message-action fields do not apply.
		a.Name, a.Value, a.ConfirmField = "", "", nil
	case a.Name == "":
		return errors.New("missing name or url in Slack action configuration")
	}
	return nil
}

// SlackConfirmationField asks for confirmation before an action.
type SlackConfirmationField struct {
	Text        string `yaml:"text,omitempty" json:"text,omitempty"`
	Title       string `yaml:"title,omitempty" json:"title,omitempty"`
	OkText      string `yaml:"ok_text,omitempty" json:"ok_text,omitempty"`
	DismissText string `yaml:"dismiss_text,omitempty" json:"dismiss_text,omitempty"`
}

func (f *SlackConfirmationField) validate() error {
	if f.Text == "" {
		return errors.New("missing text in Slack confirmation configuration")
	}
	return nil
}

// EmailConfig is an e-mail notification over SMTP. Unset SMTP fields fall
// back to the global smtp_* fields.
type EmailConfig struct {
	// SendResolved defaults to false for e-mail.
	SendResolved     bool              `yaml:"send_resolved" json:"send_resolved"`
	To               string            `yaml:"to,omitempty" json:"to,omitempty"`
	From             string            `yaml:"from,omitempty" json:"from,omitempty"`
	Hello            string            `yaml:"hello,omitempty" json:"hello,omitempty"`
	Smarthost        HostPort          `yaml:"smarthost,omitempty" json:"smarthost,omitempty"`
	AuthUsername     string            `yaml:"auth_username,omitempty" json:"auth_username,omitempty"`
	AuthPassword     Secret            `yaml:"auth_password,omitempty" json:"auth_password,omitempty"`
	AuthPasswordFile string            `yaml:"auth_password_file,omitempty" json:"auth_password_file,omitempty"`
	AuthSecret       Secret            `yaml:"auth_secret,omitempty" json:"auth_secret,omitempty"`
	AuthSecretFile   string            `yaml:"auth_secret_file,omitempty" json:"auth_secret_file,omitempty"`
	AuthIdentity     string            `yaml:"auth_identity,omitempty" json:"auth_identity,omitempty"`
	Headers          map[string]string `yaml:"headers,omitempty" json:"headers,omitempty"`
	HTML             string            `yaml:"html,omitempty" json:"html,omitempty"`
	Text             string            `yaml:"text,omitempty" json:"text,omitempty"`
	RequireTLS       *bool             `yaml:"require_tls,omitempty" json:"require_tls,omitempty"`
	TLSConfig        *TLSConfig        `yaml:"tls_config,omitempty" json:"tls_config,omitempty"`
	ForceImplicitTLS *bool             `yaml:"force_implicit_tls,omitempty" json:"force_implicit_tls,omitempty"`
	// Threading makes the notifications of one group one thread.
	Threading EmailThreading `yaml:"threading,omitempty" json:"threading,omitempty"`
}

func (c *EmailConfig) setDefaults() {
	*c = EmailConfig{HTML: `{{ template "email.default.html" . }}`}
}

func (c *EmailConfig) validate() error {
	if c.To == "" {
		return inField("to", errors.New("missing to address in email config"))
	}
	// Header names are case-insensitive: normalise, and reject collisions.
	headers := make(map[string]string, len(c.Headers))
	for h, v := range c.Headers {
		k := textproto.CanonicalMIMEHeaderKey(h)
		if _, dup := headers[k]; dup {
			return inField("headers", fmt.Errorf("duplicate header %q in email config", k))
		}
		headers[k] = v
	}
	if c.Headers != nil {
		c.Headers = headers
	}
	return errors.Join(
		exclusive("auth_password", c.AuthPassword != "", "auth_password_file", c.AuthPasswordFile != ""),
		exclusive("auth_secret", c.AuthSecret != "", "auth_secret_file", c.AuthSecretFile != ""),
	)
}

// EmailThreading threads the e-mails of one aggregation group (References
// and In-Reply-To naming one root per group, and per day unless
// thread_by_date is "none").
type EmailThreading struct {
	Enabled bool `yaml:"enabled,omitempty" json:"enabled,omitempty"`
	// ThreadByDate is "daily" (default) or "none".
	ThreadByDate string `yaml:"thread_by_date,omitempty" json:"thread_by_date,omitempty"`
}

func (t *EmailThreading) setDefaults() { *t = EmailThreading{ThreadByDate: "daily"} }

func (t *EmailThreading) validate() error {
	if t.ThreadByDate != "daily" && t.ThreadByDate != "none" {
		return inField("thread_by_date", errors.New("threading.thread_by_date must be either 'none' or 'daily'"))
	}
	return nil
}
