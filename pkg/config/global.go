package config

import (
	"errors"
	"time"

	"github.com/prometheus/common/model"
)

// GlobalConfig holds the global section: parameters valid everywhere and the
// defaults that receivers fall back to.
type GlobalConfig struct {
	// ResolveTimeout is how long after its last update an alert without an
	// end time is considered resolved (default 5m).
	ResolveTimeout model.Duration `yaml:"resolve_timeout" json:"resolve_timeout"`

	// HTTPConfig is the default HTTP client of every HTTP integration.
	HTTPConfig *HTTPClientConfig `yaml:"http_config,omitempty" json:"http_config,omitempty"`

	SMTPFrom             string     `yaml:"smtp_from,omitempty" json:"smtp_from,omitempty"`
	SMTPHello            string     `yaml:"smtp_hello,omitempty" json:"smtp_hello,omitempty"`
	SMTPSmarthost        HostPort   `yaml:"smtp_smarthost,omitempty" json:"smtp_smarthost,omitempty"`
	SMTPAuthUsername     string     `yaml:"smtp_auth_username,omitempty" json:"smtp_auth_username,omitempty"`
	SMTPAuthPassword     Secret     `yaml:"smtp_auth_password,omitempty" json:"smtp_auth_password,omitempty"`
	SMTPAuthPasswordFile string     `yaml:"smtp_auth_password_file,omitempty" json:"smtp_auth_password_file,omitempty"`
	SMTPAuthSecret       Secret     `yaml:"smtp_auth_secret,omitempty" json:"smtp_auth_secret,omitempty"`
	SMTPAuthSecretFile   string     `yaml:"smtp_auth_secret_file,omitempty" json:"smtp_auth_secret_file,omitempty"`
	SMTPAuthIdentity     string     `yaml:"smtp_auth_identity,omitempty" json:"smtp_auth_identity,omitempty"`
	SMTPRequireTLS       bool       `yaml:"smtp_require_tls" json:"smtp_require_tls"`
	SMTPTLSConfig        *TLSConfig `yaml:"smtp_tls_config,omitempty" json:"smtp_tls_config,omitempty"`
	SMTPForceImplicitTLS *bool      `yaml:"smtp_force_implicit_tls,omitempty" json:"smtp_force_implicit_tls,omitempty"`

	SlackAPIURL       *SecretURL `yaml:"slack_api_url,omitempty" json:"slack_api_url,omitempty"`
	SlackAPIURLFile   string     `yaml:"slack_api_url_file,omitempty" json:"slack_api_url_file,omitempty"`
	SlackAppToken     Secret     `yaml:"slack_app_token,omitempty" json:"slack_app_token,omitempty"`
	SlackAppTokenFile string     `yaml:"slack_app_token_file,omitempty" json:"slack_app_token_file,omitempty"`
	SlackAppURL       *URL       `yaml:"slack_app_url,omitempty" json:"slack_app_url,omitempty"`

	// The fallbacks of PagerDuty, Opsgenie, Telegram, Webex, Mattermost,
	// VictorOps and Rocket.Chat,
	// and the fields of integrations not supported yet (parsed and
	// validated so that existing files load).
	PagerdutyURL             *URL       `yaml:"pagerduty_url,omitempty" json:"pagerduty_url,omitempty"`
	OpsGenieAPIURL           *URL       `yaml:"opsgenie_api_url,omitempty" json:"opsgenie_api_url,omitempty"`
	OpsGenieAPIKey           Secret     `yaml:"opsgenie_api_key,omitempty" json:"opsgenie_api_key,omitempty"`
	OpsGenieAPIKeyFile       string     `yaml:"opsgenie_api_key_file,omitempty" json:"opsgenie_api_key_file,omitempty"`
	WeChatAPIURL             *URL       `yaml:"wechat_api_url,omitempty" json:"wechat_api_url,omitempty"`
	WeChatAPISecret          Secret     `yaml:"wechat_api_secret,omitempty" json:"wechat_api_secret,omitempty"`
	WeChatAPISecretFile      string     `yaml:"wechat_api_secret_file,omitempty" json:"wechat_api_secret_file,omitempty"`
	WeChatAPICorpID          string     `yaml:"wechat_api_corp_id,omitempty" json:"wechat_api_corp_id,omitempty"`
	VictorOpsAPIURL          *URL       `yaml:"victorops_api_url,omitempty" json:"victorops_api_url,omitempty"`
	VictorOpsAPIKey          Secret     `yaml:"victorops_api_key,omitempty" json:"victorops_api_key,omitempty"`
	VictorOpsAPIKeyFile      string     `yaml:"victorops_api_key_file,omitempty" json:"victorops_api_key_file,omitempty"`
	TelegramAPIURL           *URL       `yaml:"telegram_api_url,omitempty" json:"telegram_api_url,omitempty"`
	TelegramBotToken         Secret     `yaml:"telegram_bot_token,omitempty" json:"telegram_bot_token,omitempty"`
	TelegramBotTokenFile     string     `yaml:"telegram_bot_token_file,omitempty" json:"telegram_bot_token_file,omitempty"`
	WebexAPIURL              *URL       `yaml:"webex_api_url,omitempty" json:"webex_api_url,omitempty"`
	JiraAPIURL               *URL       `yaml:"jira_api_url,omitempty" json:"jira_api_url,omitempty"`
	RocketchatAPIURL         *URL       `yaml:"rocketchat_api_url,omitempty" json:"rocketchat_api_url,omitempty"`
	RocketchatToken          *Secret    `yaml:"rocketchat_token,omitempty" json:"rocketchat_token,omitempty"`
	RocketchatTokenFile      string     `yaml:"rocketchat_token_file,omitempty" json:"rocketchat_token_file,omitempty"`
	RocketchatTokenID        *Secret    `yaml:"rocketchat_token_id,omitempty" json:"rocketchat_token_id,omitempty"`
	RocketchatTokenIDFile    string     `yaml:"rocketchat_token_id_file,omitempty" json:"rocketchat_token_id_file,omitempty"`
	MattermostWebhookURL     *SecretURL `yaml:"mattermost_webhook_url,omitempty" json:"mattermost_webhook_url,omitempty"`
	MattermostWebhookURLFile string     `yaml:"mattermost_webhook_url_file,omitempty" json:"mattermost_webhook_url_file,omitempty"`
}

// DefaultGlobalConfig returns the global section's defaults (Alertmanager's).
func DefaultGlobalConfig() GlobalConfig {
	return GlobalConfig{
		ResolveTimeout:   model.Duration(5 * time.Minute),
		HTTPConfig:       defaultHTTPConfig(),
		SMTPHello:        "localhost",
		SMTPRequireTLS:   true,
		SMTPTLSConfig:    &TLSConfig{},
		PagerdutyURL:     mustURL("https://events.pagerduty.com/v2/enqueue"),
		OpsGenieAPIURL:   mustURL("https://api.opsgenie.com/"),
		WeChatAPIURL:     mustURL("https://qyapi.weixin.qq.com/cgi-bin/"),
		VictorOpsAPIURL:  mustURL("https://alert.victorops.com/integrations/generic/20131114/alert/"),
		TelegramAPIURL:   mustURL("https://api.telegram.org"),
		WebexAPIURL:      mustURL("https://webexapis.com/v1/messages"),
		RocketchatAPIURL: mustURL("https://open.rocket.chat/"),
		SlackAppURL:      mustURL("https://slack.com/api/chat.postMessage"),
	}
}

func (g *GlobalConfig) setDefaults() { *g = DefaultGlobalConfig() }

func (g *GlobalConfig) validate() error {
	var errs []error
	if g.HTTPConfig == nil {
		g.HTTPConfig = defaultHTTPConfig()
	}
	if g.SMTPTLSConfig == nil {
		g.SMTPTLSConfig = &TLSConfig{}
	}
	if g.SlackAppURL == nil {
		g.SlackAppURL = mustURL("https://slack.com/api/chat.postMessage")
	}
	if (g.SlackAppToken != "" || g.SlackAppTokenFile != "") && (g.SlackAPIURL != nil || g.SlackAPIURLFile != "") &&
		(g.SlackAPIURL == nil || g.SlackAPIURL.Reveal() != g.SlackAppURL.String()) {
		// Alertmanager tolerates both only when slack_api_url is the app URL
		// (a workaround users applied before app tokens existed).
		errs = append(errs, errors.New("at most one of slack_app_token/slack_app_token_file & slack_api_url/slack_api_url_file must be configured"))
	}
	errs = append(errs,
		exclusive("slack_api_url", g.SlackAPIURL != nil, "slack_api_url_file", g.SlackAPIURLFile != ""),
		exclusive("slack_app_token", g.SlackAppToken != "", "slack_app_token_file", g.SlackAppTokenFile != ""),
		exclusive("smtp_auth_password", g.SMTPAuthPassword != "", "smtp_auth_password_file", g.SMTPAuthPasswordFile != ""),
		exclusive("smtp_auth_secret", g.SMTPAuthSecret != "", "smtp_auth_secret_file", g.SMTPAuthSecretFile != ""),
		exclusive("opsgenie_api_key", g.OpsGenieAPIKey != "", "opsgenie_api_key_file", g.OpsGenieAPIKeyFile != ""),
		exclusive("victorops_api_key", g.VictorOpsAPIKey != "", "victorops_api_key_file", g.VictorOpsAPIKeyFile != ""),
		exclusive("wechat_api_secret", g.WeChatAPISecret != "", "wechat_api_secret_file", g.WeChatAPISecretFile != ""),
		exclusive("telegram_bot_token", g.TelegramBotToken != "", "telegram_bot_token_file", g.TelegramBotTokenFile != ""),
		exclusive("rocketchat_token", g.RocketchatToken != nil, "rocketchat_token_file", g.RocketchatTokenFile != ""),
		exclusive("rocketchat_token_id", g.RocketchatTokenID != nil, "rocketchat_token_id_file", g.RocketchatTokenIDFile != ""),
		exclusive("mattermost_webhook_url", g.MattermostWebhookURL != nil, "mattermost_webhook_url_file", g.MattermostWebhookURLFile != ""),
	)
	return errors.Join(errs...)
}

// exclusive is the x / x_file rule: at most one of the pair may be set.
// The error is reported at b, the second of the pair.
func exclusive(a string, hasA bool, b string, hasB bool) error {
	if hasA && hasB {
		return inField(b, errors.New("at most one of "+a+" & "+b+" must be configured"))
	}
	return nil
}
