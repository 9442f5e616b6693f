package config

import (
	"errors"

	"github.com/prometheus/common/model"
)

// PushoverConfig is a Pushover notification: one message per notification
// to a user or group key, with an application token. Title, message, URL,
// device, sound and priority are templates, and so (as in Alertmanager)
// are the user key and the token.
type PushoverConfig struct {
	// SendResolved defaults to true for Pushover.
	SendResolved bool              `yaml:"send_resolved" json:"send_resolved"`
	HTTPConfig   *HTTPClientConfig `yaml:"http_config,omitempty" json:"http_config,omitempty"`

	// UserKey or UserKeyFile, Token or TokenFile: exactly one of each.
	UserKey     Secret `yaml:"user_key,omitempty" json:"user_key,omitempty"`
	UserKeyFile string `yaml:"user_key_file,omitempty" json:"user_key_file,omitempty"`
	Token       Secret `yaml:"token,omitempty" json:"token,omitempty"`
	TokenFile   string `yaml:"token_file,omitempty" json:"token_file,omitempty"`
	Title       string `yaml:"title,omitempty" json:"title,omitempty"`
	Message     string `yaml:"message,omitempty" json:"message,omitempty"`
	URL         string `yaml:"url,omitempty" json:"url,omitempty"`
	URLTitle    string `yaml:"url_title,omitempty" json:"url_title,omitempty"`
	Device      string `yaml:"device,omitempty" json:"device,omitempty"`
	Sound       string `yaml:"sound,omitempty" json:"sound,omitempty"`
	// Priority renders to -2..2; 2 (emergency, the default while firing)
	// repeats the notification every Retry until acknowledged or Expire.
	Priority string         `yaml:"priority,omitempty" json:"priority,omitempty"`
	Retry    model.Duration `yaml:"retry,omitempty" json:"retry,omitempty"`
	Expire   model.Duration `yaml:"expire,omitempty" json:"expire,omitempty"`
	// TTL makes Pushover delete the message after it (0: never).
	TTL model.Duration `yaml:"ttl,omitempty" json:"ttl,omitempty"`
	// HTML renders the message with html/template and sends html=1;
	// Monospace sends monospace=1. At most one of the two.
	HTML      bool `yaml:"html,omitempty" json:"html,omitempty"`
	Monospace bool `yaml:"monospace,omitempty" json:"monospace,omitempty"`
	// APIURL is Klaxon's own key (Alertmanager's endpoint is fixed): the
	// messages endpoint, default https://api.pushover.net/1/messages.json.
	APIURL *URL `yaml:"api_url,omitempty" json:"api_url,omitempty"`
}

// DefaultPushoverAPIURL is Pushover's messages endpoint.
const DefaultPushoverAPIURL = "https://api.pushover.net/1/messages.json"

func (c *PushoverConfig) setDefaults() {
	*c = PushoverConfig{
		SendResolved: true,
		Title:        `{{ template "pushover.default.title" . }}`,
		Message:      `{{ template "pushover.default.message" . }}`,
		URL:          `{{ template "pushover.default.url" . }}`,
		Priority:     `{{ if eq .Status "firing" }}2{{ else }}0{{ end }}`,
		Retry:        model.Duration(60e9),
		Expire:       model.Duration(3600e9),
	}
}

func (c *PushoverConfig) validate() error {
	switch {
	case c.UserKey == "" && c.UserKeyFile == "":
		return errors.New("one of user_key or user_key_file must be configured")
	case c.Token == "" && c.TokenFile == "":
		return errors.New("one of token or token_file must be configured")
	case c.HTML && c.Monospace:
		return errors.New("at most one of monospace & html must be configured")
	}
	if c.APIURL == nil {
		c.APIURL = mustURL(DefaultPushoverAPIURL)
	}
	return errors.Join(
		exclusive("user_key", c.UserKey != "", "user_key_file", c.UserKeyFile != ""),
		exclusive("token", c.Token != "", "token_file", c.TokenFile != ""),
	)
}

// SendsResolved reports send_resolved.
func (c *PushoverConfig) SendsResolved() bool { return c.SendResolved }

// TemplatedFields lists the templated fields.
func (c *PushoverConfig) TemplatedFields() []TemplateField {
	return []TemplateField{
		{Path: "title", Src: c.Title},
		{Path: "message", Src: c.Message, HTML: c.HTML},
		{Path: "url", Src: c.URL},
		{Path: "url_title", Src: c.URLTitle},
		{Path: "device", Src: c.Device},
		{Path: "sound", Src: c.Sound},
		{Path: "priority", Src: c.Priority},
	}
}
