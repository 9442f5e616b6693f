package config

import (
	"errors"
	"fmt"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// JiraConfig is a Jira notification: the group's issue is created on its
// first notification, updated while it fires, and transitioned once it is
// resolved. The issue carries the label ALERT{<group key hash>}, which
// finds it again. Project, issue type, summary, description, priority,
// labels and the custom fields are templates.
type JiraConfig struct {
	// SendResolved defaults to true for Jira.
	SendResolved bool              `yaml:"send_resolved" json:"send_resolved"`
	HTTPConfig   *HTTPClientConfig `yaml:"http_config,omitempty" json:"http_config,omitempty"`

	// APIURL is the REST API's base (default the global jira_api_url),
	// e.g. https://example.atlassian.net/rest/api/2/.
	APIURL *URL `yaml:"api_url,omitempty" json:"api_url,omitempty"`
	// APIType is auto (default), cloud or datacenter: which search
	// endpoint is used (auto: cloud for *.atlassian.net).
	APIType string `yaml:"api_type,omitempty" json:"api_type,omitempty"`

	Project     string          `yaml:"project,omitempty" json:"project,omitempty"`
	Summary     JiraFieldConfig `yaml:"summary,omitempty" json:"summary,omitempty"`
	Description JiraFieldConfig `yaml:"description,omitempty" json:"description,omitempty"`
	Labels      []string        `yaml:"labels,omitempty" json:"labels,omitempty"`
	Priority    string          `yaml:"priority,omitempty" json:"priority,omitempty"`
	IssueType   string          `yaml:"issue_type,omitempty" json:"issue_type,omitempty"`

	ReopenTransition  string         `yaml:"reopen_transition,omitempty" json:"reopen_transition,omitempty"`
	ResolveTransition string         `yaml:"resolve_transition,omitempty" json:"resolve_transition,omitempty"`
	WontFixResolution string         `yaml:"wont_fix_resolution,omitempty" json:"wont_fix_resolution,omitempty"`
	ReopenDuration    model.Duration `yaml:"reopen_duration,omitempty" json:"reopen_duration,omitempty"`

	// Fields are custom fields ("customfield_10000": ...), set as given
	// with every string in them rendered.
	Fields map[string]any `yaml:"fields,omitempty" json:"custom_fields,omitempty"`
}

// JiraFieldConfig is the summary or the description: a template, written
// as a string or as {template, enable_update}.
type JiraFieldConfig struct {
	Template string `yaml:"template,omitempty" json:"template,omitempty"`
	// EnableUpdate (default true) is whether an update of the issue sets
	// the field again.
	EnableUpdate *bool `yaml:"enable_update,omitempty" json:"enable_update,omitempty"`
}

// UnmarshalYAML reads the string form or the mapping.
func (f *JiraFieldConfig) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*f = JiraFieldConfig{Template: n.Value}
		return nil
	}
	type plain JiraFieldConfig
	var p plain
	dec := n.Decode(&p)
	*f = JiraFieldConfig(p)
	return dec
}

// Updates reports enable_update.
func (f JiraFieldConfig) Updates() bool { return f.EnableUpdate == nil || *f.EnableUpdate }

func (c *JiraConfig) setDefaults() {
	*c = JiraConfig{
		SendResolved: true,
		APIType:      "auto",
		Summary:      JiraFieldConfig{Template: `{{ template "jira.default.summary" . }}`},
		Description:  JiraFieldConfig{Template: `{{ template "jira.default.description" . }}`},
		Priority:     `{{ template "jira.default.priority" . }}`,
	}
}

func (c *JiraConfig) validate() error {
	switch {
	case c.Project == "":
		return errors.New("missing project in jira_config")
	case c.IssueType == "":
		return errors.New("missing issue_type in jira_config")
	case c.APIType != "auto" && c.APIType != "cloud" && c.APIType != "datacenter":
		return inField("api_type", errors.New("unknown api_type on jira_config, must be auto, cloud or datacenter"))
	}
	return nil
}

// SendsResolved reports send_resolved.
func (c *JiraConfig) SendsResolved() bool { return c.SendResolved }

// TemplatedFields lists the templated fields; custom fields walked in key
// order.
func (c *JiraConfig) TemplatedFields() []TemplateField {
	fs := []TemplateField{
		{Path: "project", Src: c.Project},
		{Path: "issue_type", Src: c.IssueType},
		{Path: "summary", Src: c.Summary.Template},
		{Path: "description", Src: c.Description.Template},
		{Path: "priority", Src: c.Priority},
	}
	for i, l := range c.Labels {
		fs = append(fs, TemplateField{Path: fmt.Sprintf("labels[%d]", i), Src: l})
	}
	return appendDetailFields(fs, "fields", c.Fields)
}

// jiraFallbacks applies the global API URL, as Alertmanager.
func (v *validation) jiraFallbacks(g *GlobalConfig, c *JiraConfig, line int, path string) {
	if c.HTTPConfig == nil {
		c.HTTPConfig = g.HTTPConfig
	}
	if c.APIURL == nil {
		c.APIURL = g.JiraAPIURL
	}
	if c.APIURL == nil {
		v.at(line, path, errors.New("no global Jira Cloud URL set"))
	}
}
