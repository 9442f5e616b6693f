package config

import "errors"

// DiscordConfig is a Discord notification: a message with one embed posted
// to a channel's webhook. Content, title and message are templates.
type DiscordConfig struct {
	// SendResolved defaults to true for Discord.
	SendResolved bool              `yaml:"send_resolved" json:"send_resolved"`
	HTTPConfig   *HTTPClientConfig `yaml:"http_config,omitempty" json:"http_config,omitempty"`
	// WebhookURL or WebhookURLFile: exactly one.
	WebhookURL     *SecretURL `yaml:"webhook_url,omitempty" json:"webhook_url,omitempty"`
	WebhookURLFile string     `yaml:"webhook_url_file,omitempty" json:"webhook_url_file,omitempty"`

	// Content is the message's text, above the embed.
	Content string `yaml:"content,omitempty" json:"content,omitempty"`
	// Title and Message are the embed's title and description.
	Title   string `yaml:"title,omitempty" json:"title,omitempty"`
	Message string `yaml:"message,omitempty" json:"message,omitempty"`
	// Username and AvatarURL override the webhook's (not templates).
	Username  string `yaml:"username,omitempty" json:"username,omitempty"`
	AvatarURL string `yaml:"avatar_url,omitempty" json:"avatar_url,omitempty"`
}

func (c *DiscordConfig) setDefaults() {
	*c = DiscordConfig{
		SendResolved: true,
		Title:        `{{ template "discord.default.title" . }}`,
		Message:      `{{ template "discord.default.message" . }}`,
	}
}

func (c *DiscordConfig) validate() error {
	return requireWebhookURL(c.WebhookURL, c.WebhookURLFile)
}

// requireWebhookURL is the webhook_url / webhook_url_file rule of the chat
// integrations: exactly one.
func requireWebhookURL(u *SecretURL, file string) error {
	if u == nil && file == "" {
		return errors.New("one of webhook_url or webhook_url_file must be configured")
	}
	return exclusive("webhook_url", u != nil, "webhook_url_file", file != "")
}

// SendsResolved reports send_resolved.
func (c *DiscordConfig) SendsResolved() bool { return c.SendResolved }

// TemplatedFields lists the templated fields.
func (c *DiscordConfig) TemplatedFields() []TemplateField {
	return []TemplateField{{Path: "content", Src: c.Content}, {Path: "title", Src: c.Title}, {Path: "message", Src: c.Message}}
}
