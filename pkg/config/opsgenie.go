package config

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	texttmpl "text/template"
)

// OpsGenieConfig is an Opsgenie notification: an alert created (Alert API
// v2) while the group fires and closed once it is resolved, identified by
// the group key's hash as its alias. Text fields, details, responders and
// the API key are templates.
type OpsGenieConfig struct {
	// SendResolved defaults to true for Opsgenie (the alert is closed).
	SendResolved bool              `yaml:"send_resolved" json:"send_resolved"`
	HTTPConfig   *HTTPClientConfig `yaml:"http_config,omitempty" json:"http_config,omitempty"`

	// APIKey or APIKeyFile (default the global opsgenie_api_key[_file]).
	APIKey     Secret `yaml:"api_key,omitempty" json:"api_key,omitempty"`
	APIKeyFile string `yaml:"api_key_file,omitempty" json:"api_key_file,omitempty"`
	// APIURL is the API's base (default the global opsgenie_api_url); it
	// ends with a slash.
	APIURL      *URL                      `yaml:"api_url,omitempty" json:"api_url,omitempty"`
	Message     string                    `yaml:"message,omitempty" json:"message,omitempty"`
	Description string                    `yaml:"description,omitempty" json:"description,omitempty"`
	Source      string                    `yaml:"source,omitempty" json:"source,omitempty"`
	Details     map[string]string         `yaml:"details,omitempty" json:"details,omitempty"`
	Entity      string                    `yaml:"entity,omitempty" json:"entity,omitempty"`
	Responders  []OpsGenieConfigResponder `yaml:"responders,omitempty" json:"responders,omitempty"`
	// Actions and Tags are comma-separated lists.
	Actions  string `yaml:"actions,omitempty" json:"actions,omitempty"`
	Tags     string `yaml:"tags,omitempty" json:"tags,omitempty"`
	Note     string `yaml:"note,omitempty" json:"note,omitempty"`
	Priority string `yaml:"priority,omitempty" json:"priority,omitempty"`
	// UpdateAlerts also updates the message and description of an alert
	// that is already open.
	UpdateAlerts bool `yaml:"update_alerts,omitempty" json:"update_alerts,omitempty"`
}

// OpsGenieConfigResponder is a team, user, escalation or schedule to
// notify; type "teams" is a comma-separated list of team names.
type OpsGenieConfigResponder struct {
	// One of ID, Name, Username.
	ID       string `yaml:"id,omitempty" json:"id,omitempty"`
	Name     string `yaml:"name,omitempty" json:"name,omitempty"`
	Username string `yaml:"username,omitempty" json:"username,omitempty"`
	Type     string `yaml:"type,omitempty" json:"type,omitempty"`
}

var opsGenieResponderTypes = regexp.MustCompile(`^(team|teams|user|escalation|schedule)$`)

func (c *OpsGenieConfig) setDefaults() {
	*c = OpsGenieConfig{
		SendResolved: true,
		Message:      `{{ template "opsgenie.default.message" . }}`,
		Description:  `{{ template "opsgenie.default.description" . }}`,
		Source:       `{{ template "opsgenie.default.source" . }}`,
	}
}

func (c *OpsGenieConfig) validate() error {
	if err := exclusive("api_key", c.APIKey != "", "api_key_file", c.APIKeyFile != ""); err != nil {
		return err
	}
	for i := range c.Responders {
		r := &c.Responders[i]
		if r.ID == "" && r.Username == "" && r.Name == "" {
			return inField(fmt.Sprintf("responders[%d]", i), fmt.Errorf("opsGenieConfig responder %v has to have at least one of id, username or name specified", *r))
		}
		if !strings.Contains(r.Type, "{{") {
			r.Type = strings.ToLower(r.Type)
			if !opsGenieResponderTypes.MatchString(r.Type) {
				return inField(fmt.Sprintf("responders[%d].type", i), fmt.Errorf("opsGenieConfig responder %v type does not match valid options %s", *r, opsGenieResponderTypes))
			}
			continue
		}
		// As Alertmanager: a templated type must parse without the
		// template functions.
		if _, err := texttmpl.New("").Parse(r.Type); err != nil {
			return inField(fmt.Sprintf("responders[%d].type", i), fmt.Errorf("opsGenieConfig responder %v type contains invalid template syntax: %w", *r, err))
		}
	}
	return nil
}

// SendsResolved reports send_resolved.
func (c *OpsGenieConfig) SendsResolved() bool { return c.SendResolved }

// TemplatedFields lists the templated fields; details in key order.
func (c *OpsGenieConfig) TemplatedFields() []TemplateField {
	fs := []TemplateField{
		{Path: "message", Src: c.Message},
		{Path: "description", Src: c.Description},
		{Path: "source", Src: c.Source},
		{Path: "entity", Src: c.Entity},
		{Path: "actions", Src: c.Actions},
		{Path: "tags", Src: c.Tags},
		{Path: "note", Src: c.Note},
		{Path: "priority", Src: c.Priority},
	}
	for _, k := range slices.Sorted(maps.Keys(c.Details)) {
		fs = append(fs, TemplateField{Path: "details." + k, Src: c.Details[k]})
	}
	for i, r := range c.Responders {
		p := fmt.Sprintf("responders[%d].", i)
		fs = append(fs, TemplateField{Path: p + "id", Src: r.ID}, TemplateField{Path: p + "name", Src: r.Name},
			TemplateField{Path: p + "username", Src: r.Username}, TemplateField{Path: p + "type", Src: r.Type})
	}
	return fs
}

// opsGenieFallbacks applies the global API URL and key, as Alertmanager.
func (v *validation) opsGenieFallbacks(g *GlobalConfig, c *OpsGenieConfig, line int, path string) {
	if c.HTTPConfig == nil {
		c.HTTPConfig = g.HTTPConfig
	}
	if c.APIURL == nil {
		c.APIURL = g.OpsGenieAPIURL
	}
	if c.APIURL == nil {
		v.at(line, path, errors.New("no global OpsGenie URL set"))
		return
	}
	if !strings.HasSuffix(c.APIURL.Path, "/") {
		u := *c.APIURL.URL // a copy: the global URL is shared
		u.Path += "/"
		c.APIURL = &URL{&u}
	}
	// The global key is the fallback of a config without a key of its own.
	// Alertmanager falls back field by field, so that a config's
	// api_key_file loses to a global opsgenie_api_key: Klaxon does not.
	if c.APIKey == "" && c.APIKeyFile == "" {
		c.APIKey, c.APIKeyFile = g.OpsGenieAPIKey, g.OpsGenieAPIKeyFile
	}
	if c.APIKey == "" && c.APIKeyFile == "" {
		v.at(line, path, errors.New("no global OpsGenie API Key set either inline or in a file"))
	}
}
