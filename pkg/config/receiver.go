package config

import (
	"errors"
	"fmt"
	"maps"
	"net/textproto"
	"slices"

	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/contract"
)

// Receiver is a named set of notification integrations.
type Receiver struct {
	Name           string           `yaml:"name" json:"name"`
	WebhookConfigs []*WebhookConfig `yaml:"webhook_configs,omitempty" json:"webhook_configs,omitempty"`
	SlackConfigs   []*SlackConfig   `yaml:"slack_configs,omitempty" json:"slack_configs,omitempty"`
	EmailConfigs   []*EmailConfig   `yaml:"email_configs,omitempty" json:"email_configs,omitempty"`

	PagerdutyConfigs  []*PagerdutyConfig  `yaml:"pagerduty_configs,omitempty" json:"pagerduty_configs,omitempty"`
	OpsGenieConfigs   []*OpsGenieConfig   `yaml:"opsgenie_configs,omitempty" json:"opsgenie_configs,omitempty"`
	DiscordConfigs    []*DiscordConfig    `yaml:"discord_configs,omitempty" json:"discord_configs,omitempty"`
	MSTeamsConfigs    []*MSTeamsConfig    `yaml:"msteams_configs,omitempty" json:"msteams_configs,omitempty"`
	MSTeamsV2Configs  []*MSTeamsV2Config  `yaml:"msteamsv2_configs,omitempty" json:"msteamsv2_configs,omitempty"`
	TelegramConfigs   []*TelegramConfig   `yaml:"telegram_configs,omitempty" json:"telegram_configs,omitempty"`
	WebexConfigs      []*WebexConfig      `yaml:"webex_configs,omitempty" json:"webex_configs,omitempty"`
	MattermostConfigs []*MattermostConfig `yaml:"mattermost_configs,omitempty" json:"mattermost_configs,omitempty"`
	PushoverConfigs   []*PushoverConfig   `yaml:"pushover_configs,omitempty" json:"pushover_configs,omitempty"`
	VictorOpsConfigs  []*VictorOpsConfig  `yaml:"victorops_configs,omitempty" json:"victorops_configs,omitempty"`
	RocketchatConfigs []*RocketchatConfig `yaml:"rocketchat_configs,omitempty" json:"rocketchat_configs,omitempty"`
	IncidentioConfigs []*IncidentioConfig `yaml:"incidentio_configs,omitempty" json:"incidentio_configs,omitempty"`
	WeChatConfigs     []*WeChatConfig     `yaml:"wechat_configs,omitempty" json:"wechat_configs,omitempty"`
	SNSConfigs        []*SNSConfig        `yaml:"sns_configs,omitempty" json:"sns_configs,omitempty"`
	JiraConfigs       []*JiraConfig       `yaml:"jira_configs,omitempty" json:"jira_configs,omitempty"`
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
var UnsupportedIntegrations = []string{}

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

// Integration is one configured integration of a receiver.
type Integration struct {
	// Type is the integration's name, a contract.Integration* constant; its
	// configurations are under the receiver's key Type+"_configs".
	Type string
	// Index is the configuration's index among the receiver's
	// configurations of Type.
	Index  int
	Config IntegrationConfig
}

// IntegrationConfig is what every integration's configuration tells about
// itself.
type IntegrationConfig interface {
	// SendsResolved reports send_resolved: whether a notification whose
	// alerts are all resolved is sent.
	SendsResolved() bool
	// TemplatedFields lists the fields rendered with the templates, paths
	// relative to the configuration; empty ones may be left out.
	TemplatedFields() []TemplateField
}

// TemplateField is one templated field of an integration's configuration.
type TemplateField struct {
	// Path names the field relative to its configuration ("title",
	// "fields[1].value").
	Path string
	// Src is the field's template.
	Src string
	// HTML is set for a field rendered with html/template (e-mail html).
	HTML bool
}

// Integrations lists the receiver's integrations in a stable order: by type
// in the order below, then by index. It is the one list of integration
// types a receiver can hold: the grouper notifies each, the notifier builds
// each from its configuration.
func (r *Receiver) Integrations() []Integration {
	var out []Integration
	out = appendIntegrations(out, contract.IntegrationWebhook, r.WebhookConfigs)
	out = appendIntegrations(out, contract.IntegrationSlack, r.SlackConfigs)
	out = appendIntegrations(out, contract.IntegrationEmail, r.EmailConfigs)
	out = appendIntegrations(out, contract.IntegrationPagerDuty, r.PagerdutyConfigs)
	out = appendIntegrations(out, contract.IntegrationOpsGenie, r.OpsGenieConfigs)
	out = appendIntegrations(out, contract.IntegrationDiscord, r.DiscordConfigs)
	out = appendIntegrations(out, contract.IntegrationMSTeams, r.MSTeamsConfigs)
	out = appendIntegrations(out, contract.IntegrationMSTeamsV2, r.MSTeamsV2Configs)
	out = appendIntegrations(out, contract.IntegrationTelegram, r.TelegramConfigs)
	out = appendIntegrations(out, contract.IntegrationWebex, r.WebexConfigs)
	out = appendIntegrations(out, contract.IntegrationMattermost, r.MattermostConfigs)
	out = appendIntegrations(out, contract.IntegrationPushover, r.PushoverConfigs)
	out = appendIntegrations(out, contract.IntegrationVictorOps, r.VictorOpsConfigs)
	out = appendIntegrations(out, contract.IntegrationRocketchat, r.RocketchatConfigs)
	out = appendIntegrations(out, contract.IntegrationIncidentio, r.IncidentioConfigs)
	out = appendIntegrations(out, contract.IntegrationWeChat, r.WeChatConfigs)
	out = appendIntegrations(out, contract.IntegrationSNS, r.SNSConfigs)
	out = appendIntegrations(out, contract.IntegrationJira, r.JiraConfigs)
	return out
}

// Integration returns the receiver's configuration of integration typ at
// index, or nil.
func (r *Receiver) Integration(typ string, index int) IntegrationConfig {
	for _, in := range r.Integrations() {
		if in.Type == typ && in.Index == index {
			return in.Config
		}
	}
	return nil
}

func appendIntegrations[C IntegrationConfig](out []Integration, typ string, cfgs []C) []Integration {
	for i, c := range cfgs {
		out = append(out, Integration{Type: typ, Index: i, Config: c})
	}
	return out
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

// SendsResolved reports send_resolved.
func (c *WebhookConfig) SendsResolved() bool { return c.SendResolved }

// TemplatedFields is empty: a webhook's payload is not templated.
func (c *WebhookConfig) TemplatedFields() []TemplateField { return nil }

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

// SendsResolved reports send_resolved.
func (c *SlackConfig) SendsResolved() bool { return c.SendResolved }

// TemplatedFields lists the templated fields.
func (c *SlackConfig) TemplatedFields() []TemplateField {
	fs := []TemplateField{
		{Path: "channel", Src: c.Channel},
		{Path: "username", Src: c.Username},
		{Path: "color", Src: c.Color},
		{Path: "title", Src: c.Title},
		{Path: "title_link", Src: c.TitleLink},
		{Path: "pretext", Src: c.Pretext},
		{Path: "text", Src: c.Text},
		{Path: "message_text", Src: c.MessageText},
		{Path: "footer", Src: c.Footer},
		{Path: "fallback", Src: c.Fallback},
		{Path: "callback_id", Src: c.CallbackID},
		{Path: "icon_emoji", Src: c.IconEmoji},
		{Path: "icon_url", Src: c.IconURL},
		{Path: "image_url", Src: c.ImageURL},
		{Path: "thumb_url", Src: c.ThumbURL},
	}
	for i, f := range c.Fields {
		p := fmt.Sprintf("fields[%d].", i)
		fs = append(fs, TemplateField{Path: p + "title", Src: f.Title}, TemplateField{Path: p + "value", Src: f.Value})
	}
	for i, a := range c.Actions {
		p := fmt.Sprintf("actions[%d].", i)
		fs = append(fs,
			TemplateField{Path: p + "type", Src: a.Type}, TemplateField{Path: p + "text", Src: a.Text},
			TemplateField{Path: p + "url", Src: a.URL}, TemplateField{Path: p + "style", Src: a.Style},
			TemplateField{Path: p + "name", Src: a.Name}, TemplateField{Path: p + "value", Src: a.Value})
		if cf := a.ConfirmField; cf != nil {
			fs = append(fs,
				TemplateField{Path: p + "confirm.title", Src: cf.Title}, TemplateField{Path: p + "confirm.text", Src: cf.Text},
				TemplateField{Path: p + "confirm.ok_text", Src: cf.OkText}, TemplateField{Path: p + "confirm.dismiss_text", Src: cf.DismissText})
		}
	}
	return fs
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

func (f *SlackField) validate() error { return attachmentFieldRule("Slack", f.Title, f.Value) }

// attachmentFieldRule is the rule of a Slack-style attachment field: a
// title and a value.
func attachmentFieldRule(vendor, title, value string) error {
	if title == "" {
		return fmt.Errorf("missing title in %s field configuration", vendor)
	}
	if value == "" {
		return fmt.Errorf("missing value in %s field configuration", vendor)
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

// SendsResolved reports send_resolved.
func (c *EmailConfig) SendsResolved() bool { return c.SendResolved }

// TemplatedFields lists the templated fields; headers in name order.
func (c *EmailConfig) TemplatedFields() []TemplateField {
	fs := []TemplateField{
		{Path: "to", Src: c.To},
		{Path: "from", Src: c.From},
		{Path: "text", Src: c.Text},
		{Path: "html", Src: c.HTML, HTML: true},
	}
	for _, k := range slices.Sorted(maps.Keys(c.Headers)) {
		fs = append(fs, TemplateField{Path: "headers." + k, Src: c.Headers[k]})
	}
	return fs
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
