package config

import (
	"errors"
	"fmt"
)

// MattermostConfig is a Mattermost notification: a post to an incoming
// webhook, with one attachment built from the top-level fields, or the
// configured attachments (the text then above them). Every text field is
// a template.
type MattermostConfig struct {
	// SendResolved defaults to true for Mattermost.
	SendResolved bool              `yaml:"send_resolved" json:"send_resolved"`
	HTTPConfig   *HTTPClientConfig `yaml:"http_config,omitempty" json:"http_config,omitempty"`
	// WebhookURL or WebhookURLFile (default the global
	// mattermost_webhook_url[_file]).
	WebhookURL     *SecretURL `yaml:"webhook_url,omitempty" json:"webhook_url,omitempty"`
	WebhookURLFile string     `yaml:"webhook_url_file,omitempty" json:"webhook_url_file,omitempty"`

	Channel  string `yaml:"channel,omitempty" json:"channel,omitempty"`
	Username string `yaml:"username,omitempty" json:"username,omitempty"`

	// MattermostAttachment's fields describe the one attachment of a
	// configuration without Attachments; its text is the post's text.
	MattermostAttachment `yaml:",inline" json:",inline"`

	IconURL   string `yaml:"icon_url,omitempty" json:"icon_url,omitempty"`
	IconEmoji string `yaml:"icon_emoji,omitempty" json:"icon_emoji,omitempty"`
	// Attachments replace the one attachment of the fields above.
	Attachments []*MattermostAttachment `yaml:"attachments,omitempty" json:"attachments,omitempty"`
	Type        string                  `yaml:"type,omitempty" json:"type,omitempty"`
	Props       *MattermostProps        `yaml:"props,omitempty" json:"props,omitempty"`
	Priority    *MattermostPriority     `yaml:"priority,omitempty" json:"priority,omitempty"`
}

// MattermostField is one attachment field.
type MattermostField struct {
	Title string `yaml:"title,omitempty" json:"title,omitempty"`
	Value string `yaml:"value,omitempty" json:"value,omitempty"`
	Short *bool  `yaml:"short,omitempty" json:"short,omitempty"`
}

func (f *MattermostField) validate() error {
	return attachmentFieldRule("Mattermost", f.Title, f.Value)
}

// MattermostAttachment is one message attachment.
type MattermostAttachment struct {
	Fallback   string             `yaml:"fallback,omitempty" json:"fallback,omitempty"`
	Color      string             `yaml:"color,omitempty" json:"color,omitempty"`
	Pretext    string             `yaml:"pretext,omitempty" json:"pretext,omitempty"`
	Text       string             `yaml:"text,omitempty" json:"text,omitempty"`
	AuthorName string             `yaml:"author_name,omitempty" json:"author_name,omitempty"`
	AuthorLink string             `yaml:"author_link,omitempty" json:"author_link,omitempty"`
	AuthorIcon string             `yaml:"author_icon,omitempty" json:"author_icon,omitempty"`
	Title      string             `yaml:"title,omitempty" json:"title,omitempty"`
	TitleLink  string             `yaml:"title_link,omitempty" json:"title_link,omitempty"`
	Fields     []*MattermostField `yaml:"fields,omitempty" json:"fields,omitempty"`
	ThumbURL   string             `yaml:"thumb_url,omitempty" json:"thumb_url,omitempty"`
	Footer     string             `yaml:"footer,omitempty" json:"footer,omitempty"`
	FooterIcon string             `yaml:"footer_icon,omitempty" json:"footer_icon,omitempty"`
	ImageURL   string             `yaml:"image_url,omitempty" json:"image_url,omitempty"`
}

// MattermostProps are the post's props: card is shown in the post's
// "card" side panel.
type MattermostProps struct {
	Card string `yaml:"card,omitempty" json:"card,omitempty"`
}

// MattermostPriority is the post's priority (Mattermost Professional):
// "urgent", "important" or "standard".
type MattermostPriority struct {
	Priority                string `yaml:"priority,omitempty" json:"priority,omitempty"`
	RequestedAck            bool   `yaml:"requested_ack,omitempty" json:"requested_ack,omitempty"`
	PersistentNotifications bool   `yaml:"persistent_notifications,omitempty" json:"persistent_notifications,omitempty"`
}

func (c *MattermostConfig) setDefaults() {
	*c = MattermostConfig{
		SendResolved: true,
		Username:     `{{ template "mattermost.default.username" . }}`,
		MattermostAttachment: MattermostAttachment{
			Color:     `{{ template "mattermost.default.color" . }}`,
			Text:      `{{ template "mattermost.default.text" . }}`,
			Title:     `{{ template "mattermost.default.title" . }}`,
			TitleLink: `{{ template "mattermost.default.titlelink" . }}`,
			Fallback:  `{{ template "mattermost.default.fallback" . }}`,
		},
	}
}

func (c *MattermostConfig) validate() error {
	return exclusive("webhook_url", c.WebhookURL != nil, "webhook_url_file", c.WebhookURLFile != "")
}

// SendsResolved reports send_resolved.
func (c *MattermostConfig) SendsResolved() bool { return c.SendResolved }

// TemplatedFields lists the templated fields.
func (c *MattermostConfig) TemplatedFields() []TemplateField {
	fs := []TemplateField{
		{Path: "channel", Src: c.Channel}, {Path: "username", Src: c.Username}, {Path: "icon_url", Src: c.IconURL},
		{Path: "icon_emoji", Src: c.IconEmoji}, {Path: "type", Src: c.Type},
	}
	if c.Priority != nil {
		fs = append(fs, TemplateField{Path: "priority.priority", Src: c.Priority.Priority})
	}
	if c.Props != nil {
		fs = append(fs, TemplateField{Path: "props.card", Src: c.Props.Card})
	}
	fs = append(fs, c.MattermostAttachment.templatedFields("")...)
	for i, a := range c.Attachments {
		fs = append(fs, a.templatedFields(fmt.Sprintf("attachments[%d].", i))...)
	}
	return fs
}

func (a *MattermostAttachment) templatedFields(p string) []TemplateField {
	fs := []TemplateField{
		{Path: p + "fallback", Src: a.Fallback}, {Path: p + "color", Src: a.Color}, {Path: p + "pretext", Src: a.Pretext},
		{Path: p + "text", Src: a.Text}, {Path: p + "author_name", Src: a.AuthorName}, {Path: p + "author_link", Src: a.AuthorLink},
		{Path: p + "author_icon", Src: a.AuthorIcon}, {Path: p + "title", Src: a.Title}, {Path: p + "title_link", Src: a.TitleLink},
		{Path: p + "thumb_url", Src: a.ThumbURL}, {Path: p + "footer", Src: a.Footer}, {Path: p + "footer_icon", Src: a.FooterIcon},
		{Path: p + "image_url", Src: a.ImageURL},
	}
	for i, f := range a.Fields {
		fp := fmt.Sprintf("%sfields[%d].", p, i)
		fs = append(fs, TemplateField{Path: fp + "title", Src: f.Title}, TemplateField{Path: fp + "value", Src: f.Value})
	}
	return fs
}

// mattermostFallbacks applies the global webhook URL.
func (v *validation) mattermostFallbacks(g *GlobalConfig, c *MattermostConfig, line int, path string) {
	if c.HTTPConfig == nil {
		c.HTTPConfig = g.HTTPConfig
	}
	if c.WebhookURL == nil && c.WebhookURLFile == "" {
		if g.MattermostWebhookURL == nil && g.MattermostWebhookURLFile == "" {
			v.at(line, path, errors.New("missing webhook_url or webhook_url_file on mattermost_config"))
			return
		}
		c.WebhookURL, c.WebhookURLFile = g.MattermostWebhookURL, g.MattermostWebhookURLFile
	}
}
