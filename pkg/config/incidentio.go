package config

import (
	"errors"

	"github.com/prometheus/common/model"
)

// IncidentioConfig is an incident.io notification: the webhook payload
// POSTed to an HTTP alert source, authorised by the alert source's token
// (or http_config's authorization). Nothing is templated: incident.io
// reads the payload's groupKey as the deduplication key and its status.
type IncidentioConfig struct {
	// SendResolved defaults to true for incident.io (the alert resolves).
	SendResolved bool              `yaml:"send_resolved" json:"send_resolved"`
	HTTPConfig   *HTTPClientConfig `yaml:"http_config,omitempty" json:"http_config,omitempty"`

	// URL or URLFile: exactly one, the alert source's URL.
	URL     *URL   `yaml:"url,omitempty" json:"url,omitempty"`
	URLFile string `yaml:"url_file,omitempty" json:"url_file,omitempty"`
	// AlertSourceToken or AlertSourceTokenFile: the bearer token, unless
	// http_config has an authorization.
	AlertSourceToken     Secret `yaml:"alert_source_token,omitempty" json:"alert_source_token,omitempty"`
	AlertSourceTokenFile string `yaml:"alert_source_token_file,omitempty" json:"alert_source_token_file,omitempty"`
	// MaxAlerts caps the alerts per message (0: no limit).
	MaxAlerts uint64 `yaml:"max_alerts" json:"max_alerts"`
	// Timeout bounds one request (0: no timeout beyond the notifier's).
	Timeout model.Duration `yaml:"timeout" json:"timeout"`
}

func (c *IncidentioConfig) setDefaults() { *c = IncidentioConfig{SendResolved: true} }

func (c *IncidentioConfig) validate() error {
	hasToken := c.AlertSourceToken != "" || c.AlertSourceTokenFile != ""
	switch {
	case c.URL == nil && c.URLFile == "":
		return errors.New("one of url or url_file must be configured")
	case c.URL != nil && c.URLFile != "":
		return inField("url_file", errors.New("at most one of url & url_file must be configured"))
	case c.AlertSourceToken != "" && c.AlertSourceTokenFile != "":
		return inField("alert_source_token_file", errors.New("at most one of alert_source_token & alert_source_token_file must be configured"))
	case c.HTTPConfig != nil && c.HTTPConfig.Authorization != nil && hasToken:
		return errors.New("cannot specify alert_source_token or alert_source_token_file when using http_config.authorization")
	// As Alertmanager: the rule reads the config's own http_config only, so
	// a config without one and without a token loads (and is refused by
	// incident.io).
	case c.HTTPConfig != nil && c.HTTPConfig.Authorization == nil && !hasToken:
		return errors.New("at least one of alert_source_token, alert_source_token_file or http_config.authorization must be configured")
	}
	return nil
}

// SendsResolved reports send_resolved.
func (c *IncidentioConfig) SendsResolved() bool { return c.SendResolved }

// TemplatedFields is empty: the payload is not templated.
func (c *IncidentioConfig) TemplatedFields() []TemplateField { return nil }
