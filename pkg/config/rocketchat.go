package config

import (
	"errors"
	"fmt"
)

// RocketchatConfig is a Rocket.Chat notification: chat.postMessage with a
// personal access token (X-Auth-Token) and its user id (X-User-Id), one
// attachment per message. Channel, texts, fields and actions are templates.
type RocketchatConfig struct {
	// SendResolved defaults to false for Rocket.Chat.
	SendResolved bool              `yaml:"send_resolved" json:"send_resolved"`
	HTTPConfig   *HTTPClientConfig `yaml:"http_config,omitempty" json:"http_config,omitempty"`

	// APIURL is the server's base (default the global rocketchat_api_url).
	APIURL *URL `yaml:"api_url,omitempty" json:"api_url,omitempty"`
	// TokenID or TokenIDFile, Token or TokenFile (default the global
	// rocketchat_token_id[_file], rocketchat_token[_file]).
	TokenID     *Secret `yaml:"token_id,omitempty" json:"token_id,omitempty"`
	TokenIDFile string  `yaml:"token_id_file,omitempty" json:"token_id_file,omitempty"`
	Token       *Secret `yaml:"token,omitempty" json:"token,omitempty"`
	TokenFile   string  `yaml:"token_file,omitempty" json:"token_file,omitempty"`

	Channel     string                        `yaml:"channel,omitempty" json:"channel,omitempty"`
	Color       string                        `yaml:"color,omitempty" json:"color,omitempty"`
	Title       string                        `yaml:"title,omitempty" json:"title,omitempty"`
	TitleLink   string                        `yaml:"title_link,omitempty" json:"title_link,omitempty"`
	Text        string                        `yaml:"text,omitempty" json:"text,omitempty"`
	Fields      []*RocketchatAttachmentField  `yaml:"fields,omitempty" json:"fields,omitempty"`
	ShortFields bool                          `yaml:"short_fields" json:"short_fields,omitempty"`
	Emoji       string                        `yaml:"emoji,omitempty" json:"emoji,omitempty"`
	IconURL     string                        `yaml:"icon_url,omitempty" json:"icon_url,omitempty"`
	ImageURL    string                        `yaml:"image_url,omitempty" json:"image_url,omitempty"`
	ThumbURL    string                        `yaml:"thumb_url,omitempty" json:"thumb_url,omitempty"`
	LinkNames   bool                          `yaml:"link_names" json:"link_names,omitempty"`
	Actions     []*RocketchatAttachmentAction `yaml:"actions,omitempty" json:"actions,omitempty"`
}

// RocketchatAttachmentField is one attachment field; Short defaults to the
// config's short_fields.
type RocketchatAttachmentField struct {
	Short *bool  `yaml:"short,omitempty" json:"short,omitempty"`
	Title string `yaml:"title,omitempty" json:"title,omitempty"`
	Value string `yaml:"value,omitempty" json:"value,omitempty"`
}

// RocketchatAttachmentAction is one attachment button: a link (url) or a
// message to send (msg). Alertmanager reads its keys without underscores
// (it has no YAML names for them) and sends only text, url and msg, as a
// button; Klaxon accepts the same keys and sends the same.
type RocketchatAttachmentAction struct {
	Type               string `yaml:"type,omitempty" json:"type,omitempty"`
	Text               string `yaml:"text,omitempty" json:"text,omitempty"`
	URL                string `yaml:"url,omitempty" json:"url,omitempty"`
	ImageURL           string `yaml:"imageurl,omitempty" json:"image_url,omitempty"`
	IsWebView          bool   `yaml:"iswebview,omitempty" json:"is_webview,omitempty"`
	WebviewHeightRatio string `yaml:"webviewheightratio,omitempty" json:"webview_height_ratio,omitempty"`
	Msg                string `yaml:"msg,omitempty" json:"msg,omitempty"`
	MsgInChatWindow    bool   `yaml:"msginchatwindow,omitempty" json:"msg_in_chat_window,omitempty"`
	MsgProcessingType  string `yaml:"msgprocessingtype,omitempty" json:"msg_processing_type,omitempty"`
}

func (c *RocketchatConfig) setDefaults() {
	*c = RocketchatConfig{
		Color:     `{{ if eq .Status "firing" }}red{{ else }}green{{ end }}`,
		Emoji:     `{{ template "rocketchat.default.emoji" . }}`,
		IconURL:   `{{ template "rocketchat.default.iconurl" . }}`,
		Text:      `{{ template "rocketchat.default.text" . }}`,
		Title:     `{{ template "rocketchat.default.title" . }}`,
		TitleLink: `{{ template "rocketchat.default.titlelink" . }}`,
	}
}

func (c *RocketchatConfig) validate() error {
	return errors.Join(
		exclusive("token", c.Token != nil, "token_file", c.TokenFile != ""),
		exclusive("token_id", c.TokenID != nil, "token_id_file", c.TokenIDFile != ""),
	)
}

// SendsResolved reports send_resolved.
func (c *RocketchatConfig) SendsResolved() bool { return c.SendResolved }

// TemplatedFields lists the templated fields.
func (c *RocketchatConfig) TemplatedFields() []TemplateField {
	fs := []TemplateField{
		{Path: "channel", Src: c.Channel},
		{Path: "color", Src: c.Color},
		{Path: "title", Src: c.Title},
		{Path: "title_link", Src: c.TitleLink},
		{Path: "text", Src: c.Text},
		{Path: "emoji", Src: c.Emoji},
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
		fs = append(fs, TemplateField{Path: p + "text", Src: a.Text}, TemplateField{Path: p + "url", Src: a.URL}, TemplateField{Path: p + "msg", Src: a.Msg})
	}
	return fs
}

// rocketchatFallbacks applies the global URL, token and token id, as
// Alertmanager (each of token and token id falls back as a pair with its
// file).
func (v *validation) rocketchatFallbacks(g *GlobalConfig, c *RocketchatConfig, line int, path string) {
	if c.HTTPConfig == nil {
		c.HTTPConfig = g.HTTPConfig
	}
	if c.APIURL == nil {
		c.APIURL = g.RocketchatAPIURL
	}
	if c.TokenID == nil && c.TokenIDFile == "" {
		c.TokenID, c.TokenIDFile = g.RocketchatTokenID, g.RocketchatTokenIDFile
	}
	if c.TokenID == nil && c.TokenIDFile == "" {
		v.at(line, path, errors.New("no global Rocketchat TokenID set either inline or in a file"))
	}
	if c.Token == nil && c.TokenFile == "" {
		c.Token, c.TokenFile = g.RocketchatToken, g.RocketchatTokenFile
	}
	if c.Token == nil && c.TokenFile == "" {
		v.at(line, path, errors.New("no global Rocketchat Token set either inline or in a file"))
	}
	if c.APIURL == nil {
		v.at(line, path, errors.New("no global Rocketchat URL set"))
	}
}
