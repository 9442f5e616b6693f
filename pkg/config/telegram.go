package config

import "errors"

// TelegramConfig is a Telegram notification: a bot's sendMessage to a
// chat. The message is a template (rendered as HTML, escaping values, when
// parse_mode is HTML).
type TelegramConfig struct {
	// SendResolved defaults to true for Telegram.
	SendResolved bool              `yaml:"send_resolved" json:"send_resolved"`
	HTTPConfig   *HTTPClientConfig `yaml:"http_config,omitempty" json:"http_config,omitempty"`

	// APIURL is the Bot API's base (default the global telegram_api_url).
	APIURL *URL `yaml:"api_url,omitempty" json:"api_url,omitempty"`
	// BotToken or BotTokenFile (default the global telegram_bot_token[_file]).
	BotToken     Secret `yaml:"bot_token,omitempty" json:"bot_token,omitempty"`
	BotTokenFile string `yaml:"bot_token_file,omitempty" json:"bot_token_file,omitempty"`
	// ChatID or ChatIDFile: exactly one.
	ChatID     int64  `yaml:"chat_id,omitempty" json:"chat_id,omitempty"`
	ChatIDFile string `yaml:"chat_id_file,omitempty" json:"chat_id_file,omitempty"`
	// MessageThreadID is the forum topic to post in (0: none).
	MessageThreadID      int    `yaml:"message_thread_id,omitempty" json:"message_thread_id,omitempty"`
	Message              string `yaml:"message,omitempty" json:"message,omitempty"`
	DisableNotifications bool   `yaml:"disable_notifications,omitempty" json:"disable_notifications,omitempty"`
	// ParseMode is "HTML" (default), "Markdown", "MarkdownV2" or "" (plain).
	ParseMode string `yaml:"parse_mode,omitempty" json:"parse_mode,omitempty"`
}

func (c *TelegramConfig) setDefaults() {
	*c = TelegramConfig{
		SendResolved: true,
		Message:      `{{ template "telegram.default.message" . }}`,
		ParseMode:    "HTML",
	}
}

func (c *TelegramConfig) validate() error {
	if err := exclusive("bot_token", c.BotToken != "", "bot_token_file", c.BotTokenFile != ""); err != nil {
		return err
	}
	if c.ChatID == 0 && c.ChatIDFile == "" {
		return errors.New("missing chat_id or chat_id_file on telegram_config")
	}
	if err := exclusive("chat_id", c.ChatID != 0, "chat_id_file", c.ChatIDFile != ""); err != nil {
		return err
	}
	switch c.ParseMode {
	case "", "Markdown", "MarkdownV2", "HTML":
		return nil
	}
	return inField("parse_mode", errors.New("unknown parse_mode on telegram_config, must be Markdown, MarkdownV2, HTML or empty string"))
}

// SendsResolved reports send_resolved.
func (c *TelegramConfig) SendsResolved() bool { return c.SendResolved }

// TemplatedFields lists the templated fields.
func (c *TelegramConfig) TemplatedFields() []TemplateField {
	return []TemplateField{{Path: "message", Src: c.Message, HTML: c.ParseMode == "HTML"}}
}

// telegramFallbacks applies the global API URL and bot token.
func (v *validation) telegramFallbacks(g *GlobalConfig, c *TelegramConfig, line int, path string) {
	if c.HTTPConfig == nil {
		c.HTTPConfig = g.HTTPConfig
	}
	if c.APIURL == nil {
		c.APIURL = g.TelegramAPIURL
	}
	if c.BotToken == "" && c.BotTokenFile == "" {
		if g.TelegramBotToken == "" && g.TelegramBotTokenFile == "" {
			v.at(line, path, errors.New("missing bot_token or bot_token_file on telegram_config"))
			return
		}
		c.BotToken, c.BotTokenFile = g.TelegramBotToken, g.TelegramBotTokenFile
	}
	if c.APIURL == nil {
		v.at(line, path, errors.New("no global Telegram URL set"))
	}
}
