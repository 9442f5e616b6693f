package config

import "errors"

// WebexConfig is a Webex notification: a Markdown message posted to a room
// with the bot's token as http_config's authorization. Message and room
// id are templates.
type WebexConfig struct {
	// SendResolved defaults to true for Webex.
	SendResolved bool `yaml:"send_resolved" json:"send_resolved"`
	// HTTPConfig must hold the authorization (the bot's bearer token).
	HTTPConfig *HTTPClientConfig `yaml:"http_config,omitempty" json:"http_config,omitempty"`
	// APIURL is the messages endpoint (default the global webex_api_url).
	APIURL  *URL   `yaml:"api_url,omitempty" json:"api_url,omitempty"`
	Message string `yaml:"message,omitempty" json:"message,omitempty"`
	RoomID  string `yaml:"room_id" json:"room_id"`
}

func (c *WebexConfig) setDefaults() {
	*c = WebexConfig{SendResolved: true, Message: `{{ template "webex.default.message" . }}`}
}

func (c *WebexConfig) validate() error {
	if c.RoomID == "" {
		return errors.New("missing room_id on webex_config")
	}
	// As Alertmanager: the config's own http_config, not the global one.
	if c.HTTPConfig == nil || c.HTTPConfig.Authorization == nil {
		return errors.New("missing webex_configs.http_config.authorization")
	}
	return nil
}

// SendsResolved reports send_resolved.
func (c *WebexConfig) SendsResolved() bool { return c.SendResolved }

// TemplatedFields lists the templated fields.
func (c *WebexConfig) TemplatedFields() []TemplateField {
	return []TemplateField{{Path: "message", Src: c.Message}, {Path: "room_id", Src: c.RoomID}}
}
