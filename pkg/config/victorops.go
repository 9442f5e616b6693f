package config

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// VictorOpsConfig is a VictorOps (Splunk On-Call) notification: an event
// to the REST endpoint under the API key and a routing key, CRITICAL (or
// the configured message_type) while the group fires and RECOVERY once it
// is resolved, its entity the group key's hash. Every text field, the
// routing key and the custom fields are templates.
type VictorOpsConfig struct {
	// SendResolved defaults to true for VictorOps (the incident recovers).
	SendResolved bool              `yaml:"send_resolved" json:"send_resolved"`
	HTTPConfig   *HTTPClientConfig `yaml:"http_config,omitempty" json:"http_config,omitempty"`

	// APIKey or APIKeyFile (default the global victorops_api_key[_file]).
	APIKey     Secret `yaml:"api_key,omitempty" json:"api_key,omitempty"`
	APIKeyFile string `yaml:"api_key_file,omitempty" json:"api_key_file,omitempty"`
	// APIURL is the REST endpoint's base (default the global
	// victorops_api_url); it ends with a slash.
	APIURL     *URL   `yaml:"api_url,omitempty" json:"api_url,omitempty"`
	RoutingKey string `yaml:"routing_key" json:"routing_key"`
	// MessageType is CRITICAL (default), WARNING or INFO while firing; any
	// other rendering is sent as CRITICAL, and a resolved group as RECOVERY.
	MessageType       string            `yaml:"message_type" json:"message_type"`
	StateMessage      string            `yaml:"state_message" json:"state_message"`
	EntityDisplayName string            `yaml:"entity_display_name" json:"entity_display_name"`
	MonitoringTool    string            `yaml:"monitoring_tool" json:"monitoring_tool"`
	CustomFields      map[string]string `yaml:"custom_fields,omitempty" json:"custom_fields,omitempty"`
}

// victorOpsReserved are the event's own fields, which custom fields may
// not replace.
var victorOpsReserved = []string{"routing_key", "message_type", "state_message", "entity_display_name", "monitoring_tool", "entity_id", "entity_state"}

func (c *VictorOpsConfig) setDefaults() {
	*c = VictorOpsConfig{
		SendResolved:      true,
		MessageType:       "CRITICAL",
		StateMessage:      `{{ template "victorops.default.state_message" . }}`,
		EntityDisplayName: `{{ template "victorops.default.entity_display_name" . }}`,
		MonitoringTool:    `{{ template "victorops.default.monitoring_tool" . }}`,
	}
}

func (c *VictorOpsConfig) validate() error {
	if c.RoutingKey == "" {
		return errors.New("missing Routing key in VictorOps config")
	}
	if err := exclusive("api_key", c.APIKey != "", "api_key_file", c.APIKeyFile != ""); err != nil {
		return err
	}
	for _, k := range victorOpsReserved {
		if _, ok := c.CustomFields[k]; ok {
			return inField("custom_fields", fmt.Errorf("victorOps config contains custom field %s which cannot be used as it conflicts with the fixed/static fields", k))
		}
	}
	return nil
}

// SendsResolved reports send_resolved.
func (c *VictorOpsConfig) SendsResolved() bool { return c.SendResolved }

// TemplatedFields lists the templated fields; custom fields in key order.
func (c *VictorOpsConfig) TemplatedFields() []TemplateField {
	fs := []TemplateField{
		{Path: "routing_key", Src: c.RoutingKey},
		{Path: "message_type", Src: c.MessageType},
		{Path: "state_message", Src: c.StateMessage},
		{Path: "entity_display_name", Src: c.EntityDisplayName},
		{Path: "monitoring_tool", Src: c.MonitoringTool},
	}
	for _, k := range slices.Sorted(maps.Keys(c.CustomFields)) {
		fs = append(fs, TemplateField{Path: "custom_fields." + k, Src: c.CustomFields[k]})
	}
	return fs
}

// victorOpsFallbacks applies the global API URL and key, as Alertmanager.
func (v *validation) victorOpsFallbacks(g *GlobalConfig, c *VictorOpsConfig, line int, path string) {
	if c.HTTPConfig == nil {
		c.HTTPConfig = g.HTTPConfig
	}
	if c.APIURL == nil {
		c.APIURL = g.VictorOpsAPIURL
	}
	if c.APIURL == nil {
		v.at(line, path, errors.New("no global VictorOps URL set"))
		return
	}
	if !strings.HasSuffix(c.APIURL.Path, "/") {
		u := *c.APIURL.URL // a copy: the global URL is shared
		u.Path += "/"
		c.APIURL = &URL{&u}
	}
	// As for Opsgenie, the global key and file fall back as a pair.
	if c.APIKey == "" && c.APIKeyFile == "" {
		c.APIKey, c.APIKeyFile = g.VictorOpsAPIKey, g.VictorOpsAPIKeyFile
	}
	if c.APIKey == "" && c.APIKeyFile == "" {
		v.at(line, path, errors.New("no global VictorOps API Key set"))
	}
}
