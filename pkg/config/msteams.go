package config

// MSTeamsConfig is a Microsoft Teams notification through an Office 365
// connector's incoming webhook (a MessageCard). Title, summary and text
// are templates.
type MSTeamsConfig struct {
	// SendResolved defaults to true for Teams.
	SendResolved bool              `yaml:"send_resolved" json:"send_resolved"`
	HTTPConfig   *HTTPClientConfig `yaml:"http_config,omitempty" json:"http_config,omitempty"`
	// WebhookURL or WebhookURLFile: exactly one.
	WebhookURL     *SecretURL `yaml:"webhook_url,omitempty" json:"webhook_url,omitempty"`
	WebhookURLFile string     `yaml:"webhook_url_file,omitempty" json:"webhook_url_file,omitempty"`

	Title   string `yaml:"title,omitempty" json:"title,omitempty"`
	Summary string `yaml:"summary,omitempty" json:"summary,omitempty"`
	Text    string `yaml:"text,omitempty" json:"text,omitempty"`
}

func (c *MSTeamsConfig) setDefaults() {
	*c = MSTeamsConfig{
		SendResolved: true,
		Title:        `{{ template "msteams.default.title" . }}`,
		Summary:      `{{ template "msteams.default.summary" . }}`,
		Text:         `{{ template "msteams.default.text" . }}`,
	}
}

func (c *MSTeamsConfig) validate() error { return requireWebhookURL(c.WebhookURL, c.WebhookURLFile) }

// SendsResolved reports send_resolved.
func (c *MSTeamsConfig) SendsResolved() bool { return c.SendResolved }

// TemplatedFields lists the templated fields.
func (c *MSTeamsConfig) TemplatedFields() []TemplateField {
	return []TemplateField{{Path: "title", Src: c.Title}, {Path: "summary", Src: c.Summary}, {Path: "text", Src: c.Text}}
}

// MSTeamsV2Config is a Microsoft Teams notification through a Workflows
// (Power Automate) webhook: an Adaptive Card. Title and text are
// templates.
type MSTeamsV2Config struct {
	// SendResolved defaults to true for Teams.
	SendResolved bool              `yaml:"send_resolved" json:"send_resolved"`
	HTTPConfig   *HTTPClientConfig `yaml:"http_config,omitempty" json:"http_config,omitempty"`
	// WebhookURL or WebhookURLFile: exactly one.
	WebhookURL     *SecretURL `yaml:"webhook_url,omitempty" json:"webhook_url,omitempty"`
	WebhookURLFile string     `yaml:"webhook_url_file,omitempty" json:"webhook_url_file,omitempty"`

	Title string `yaml:"title,omitempty" json:"title,omitempty"`
	Text  string `yaml:"text,omitempty" json:"text,omitempty"`
}

func (c *MSTeamsV2Config) setDefaults() {
	*c = MSTeamsV2Config{
		SendResolved: true,
		Title:        `{{ template "msteamsv2.default.title" . }}`,
		Text:         `{{ template "msteamsv2.default.text" . }}`,
	}
}

func (c *MSTeamsV2Config) validate() error { return requireWebhookURL(c.WebhookURL, c.WebhookURLFile) }

// SendsResolved reports send_resolved.
func (c *MSTeamsV2Config) SendsResolved() bool { return c.SendResolved }

// TemplatedFields lists the templated fields.
func (c *MSTeamsV2Config) TemplatedFields() []TemplateField {
	return []TemplateField{{Path: "title", Src: c.Title}, {Path: "text", Src: c.Text}}
}

// msTeamsV2Fallbacks applies the global http_config as Alertmanager does
// for msteamsv2: a copy of it when the config has none, else only its
// proxy_url when the config sets none.
func msTeamsV2Fallbacks(g *GlobalConfig, c *MSTeamsV2Config) {
	if c.HTTPConfig == nil {
		h := *g.HTTPConfig
		c.HTTPConfig = &h
		return
	}
	if c.HTTPConfig.ProxyURL.URL == nil {
		c.HTTPConfig.ProxyURL = g.HTTPConfig.ProxyURL
	}
}
