package config

import (
	"errors"
	"fmt"
	"strings"
)

// WeChatConfig is a WeChat Work (WeCom) notification: an application
// message sent with an access token that the corp id and the application's
// secret buy from gettoken. Recipients, agent id and message are templates.
type WeChatConfig struct {
	// SendResolved defaults to false for WeChat.
	SendResolved bool              `yaml:"send_resolved" json:"send_resolved"`
	HTTPConfig   *HTTPClientConfig `yaml:"http_config,omitempty" json:"http_config,omitempty"`

	// APISecret or APISecretFile, and CorpID (default the global
	// wechat_api_secret[_file] and wechat_api_corp_id).
	APISecret     Secret `yaml:"api_secret,omitempty" json:"api_secret,omitempty"`
	APISecretFile string `yaml:"api_secret_file,omitempty" json:"api_secret_file,omitempty"`
	CorpID        string `yaml:"corp_id,omitempty" json:"corp_id,omitempty"`
	// APIURL is the API's base (default the global wechat_api_url); it
	// ends with a slash.
	APIURL  *URL   `yaml:"api_url,omitempty" json:"api_url,omitempty"`
	Message string `yaml:"message,omitempty" json:"message,omitempty"`
	ToUser  string `yaml:"to_user,omitempty" json:"to_user,omitempty"`
	ToParty string `yaml:"to_party,omitempty" json:"to_party,omitempty"`
	ToTag   string `yaml:"to_tag,omitempty" json:"to_tag,omitempty"`
	AgentID string `yaml:"agent_id,omitempty" json:"agent_id,omitempty"`
	// MessageType is text (default) or markdown.
	MessageType string `yaml:"message_type,omitempty" json:"message_type,omitempty"`
}

const weChatMessageTypes = `^(text|markdown)$`

func (c *WeChatConfig) setDefaults() {
	*c = WeChatConfig{
		Message: `{{ template "wechat.default.message" . }}`,
		ToUser:  `{{ template "wechat.default.to_user" . }}`,
		ToParty: `{{ template "wechat.default.to_party" . }}`,
		ToTag:   `{{ template "wechat.default.to_tag" . }}`,
		AgentID: `{{ template "wechat.default.agent_id" . }}`,
	}
}

func (c *WeChatConfig) validate() error {
	if c.MessageType == "" {
		c.MessageType = "text"
	}
	if c.MessageType != "text" && c.MessageType != "markdown" {
		return inField("message_type", fmt.Errorf("weChat message type %q does not match valid options %s", c.MessageType, weChatMessageTypes))
	}
	return exclusive("api_secret", c.APISecret != "", "api_secret_file", c.APISecretFile != "")
}

// SendsResolved reports send_resolved.
func (c *WeChatConfig) SendsResolved() bool { return c.SendResolved }

// TemplatedFields lists the templated fields.
func (c *WeChatConfig) TemplatedFields() []TemplateField {
	return []TemplateField{
		{Path: "corp_id", Src: c.CorpID},
		{Path: "message", Src: c.Message},
		{Path: "to_user", Src: c.ToUser},
		{Path: "to_party", Src: c.ToParty},
		{Path: "to_tag", Src: c.ToTag},
		{Path: "agent_id", Src: c.AgentID},
	}
}

// weChatFallbacks applies the global URL, secret (with its file, as a
// pair) and corp id, as Alertmanager.
func (v *validation) weChatFallbacks(g *GlobalConfig, c *WeChatConfig, line int, path string) {
	if c.HTTPConfig == nil {
		c.HTTPConfig = g.HTTPConfig
	}
	if c.APIURL == nil {
		c.APIURL = g.WeChatAPIURL
	}
	if c.APIURL == nil {
		v.at(line, path, errors.New("no global Wechat URL set"))
		return
	}
	if c.APISecret == "" && c.APISecretFile == "" {
		c.APISecret, c.APISecretFile = g.WeChatAPISecret, g.WeChatAPISecretFile
	}
	if c.APISecret == "" && c.APISecretFile == "" {
		v.at(line, path, errors.New("no global Wechat Api Secret set either inline or in a file"))
	}
	if c.CorpID == "" {
		c.CorpID = g.WeChatAPICorpID
	}
	if c.CorpID == "" {
		v.at(line, path, errors.New("no global Wechat CorpID set"))
	}
	if !strings.HasSuffix(c.APIURL.Path, "/") {
		u := *c.APIURL.URL // a copy: the global URL is shared
		u.Path += "/"
		c.APIURL = &URL{&u}
	}
}
