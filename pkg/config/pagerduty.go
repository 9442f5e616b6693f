package config

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/prometheus/common/model"
)

// PagerdutyConfig is a PagerDuty notification: an Events API v2 event to
// url with routing_key, or a v1 event with service_key. Text fields,
// details and the keys are templates.
type PagerdutyConfig struct {
	// SendResolved defaults to true for PagerDuty (a resolve event).
	SendResolved bool              `yaml:"send_resolved" json:"send_resolved"`
	HTTPConfig   *HTTPClientConfig `yaml:"http_config,omitempty" json:"http_config,omitempty"`

	// RoutingKey (Events API v2) or ServiceKey (v1), each inline or in a
	// file; one of the four must be set.
	ServiceKey     Secret `yaml:"service_key,omitempty" json:"service_key,omitempty"`
	ServiceKeyFile string `yaml:"service_key_file,omitempty" json:"service_key_file,omitempty"`
	RoutingKey     Secret `yaml:"routing_key,omitempty" json:"routing_key,omitempty"`
	RoutingKeyFile string `yaml:"routing_key_file,omitempty" json:"routing_key_file,omitempty"`
	// URL is the Events API v2 endpoint (default the global pagerduty_url).
	URL         *URL             `yaml:"url,omitempty" json:"url,omitempty"`
	Client      string           `yaml:"client,omitempty" json:"client,omitempty"`
	ClientURL   string           `yaml:"client_url,omitempty" json:"client_url,omitempty"`
	Description string           `yaml:"description,omitempty" json:"description,omitempty"`
	Details     map[string]any   `yaml:"details,omitempty" json:"details,omitempty"`
	Images      []PagerdutyImage `yaml:"images,omitempty" json:"images,omitempty"`
	Links       []PagerdutyLink  `yaml:"links,omitempty" json:"links,omitempty"`
	// Source defaults to Client.
	Source string `yaml:"source,omitempty" json:"source,omitempty"`
	// Severity defaults to "error" at send time.
	Severity  string `yaml:"severity,omitempty" json:"severity,omitempty"`
	Class     string `yaml:"class,omitempty" json:"class,omitempty"`
	Component string `yaml:"component,omitempty" json:"component,omitempty"`
	Group     string `yaml:"group,omitempty" json:"group,omitempty"`
	// Timeout bounds one request (0: no timeout beyond the notifier's).
	Timeout model.Duration `yaml:"timeout" json:"timeout"`
}

// PagerdutyImage is an image attached to an event.
type PagerdutyImage struct {
	Src  string `yaml:"src,omitempty" json:"src,omitempty"`
	Alt  string `yaml:"alt,omitempty" json:"alt,omitempty"`
	Href string `yaml:"href,omitempty" json:"href,omitempty"`
}

// PagerdutyLink is a link attached to an event.
type PagerdutyLink struct {
	Href string `yaml:"href,omitempty" json:"href,omitempty"`
	Text string `yaml:"text,omitempty" json:"text,omitempty"`
}

// defaultPagerdutyDetails are the details every event carries unless the
// configuration sets the same key.
func defaultPagerdutyDetails() map[string]any {
	return map[string]any{
		"firing":       `{{ .Alerts.Firing | toJson }}`,
		"resolved":     `{{ .Alerts.Resolved | toJson }}`,
		"num_firing":   `{{ .Alerts.Firing | len }}`,
		"num_resolved": `{{ .Alerts.Resolved | len }}`,
	}
}

func (c *PagerdutyConfig) setDefaults() {
	*c = PagerdutyConfig{
		SendResolved: true,
		Description:  `{{ template "pagerduty.default.description" .}}`,
		Client:       `{{ template "pagerduty.default.client" . }}`,
		ClientURL:    `{{ template "pagerduty.default.clientURL" . }}`,
	}
}

func (c *PagerdutyConfig) validate() error {
	if c.RoutingKey == "" && c.ServiceKey == "" && c.RoutingKeyFile == "" && c.ServiceKeyFile == "" {
		return errors.New("missing service or routing key in PagerDuty config")
	}
	if err := errors.Join(
		exclusive("routing_key", c.RoutingKey != "", "routing_key_file", c.RoutingKeyFile != ""),
		exclusive("service_key", c.ServiceKey != "", "service_key_file", c.ServiceKeyFile != ""),
	); err != nil {
		return err
	}
	if c.Details == nil {
		c.Details = map[string]any{}
	}
	if c.Source == "" {
		c.Source = c.Client
	}
	for k, v := range defaultPagerdutyDetails() {
		if _, ok := c.Details[k]; !ok {
			c.Details[k] = v
		}
	}
	return nil
}

// appendDetailFields lists the strings in free-form details, lists and maps
// walked, keys in order.
func appendDetailFields(fs []TemplateField, path string, v any) []TemplateField {
	switch v := v.(type) {
	case string:
		return append(fs, TemplateField{Path: path, Src: v})
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			fs = appendDetailFields(fs, path+"."+k, v[k])
		}
	case []any:
		for i, e := range v {
			fs = appendDetailFields(fs, fmt.Sprintf("%s[%d]", path, i), e)
		}
	}
	return fs
}

// SendsResolved reports send_resolved.
func (c *PagerdutyConfig) SendsResolved() bool { return c.SendResolved }

// V1 reports whether events go to the Events API v1 (a service key is
// set).
func (c *PagerdutyConfig) V1() bool { return c.ServiceKey != "" || c.ServiceKeyFile != "" }

// TemplatedFields lists the templated fields, the strings in details
// included (at any depth; their keys are templates too, as in Alertmanager,
// but are not listed).
func (c *PagerdutyConfig) TemplatedFields() []TemplateField {
	fs := []TemplateField{
		{Path: "client", Src: c.Client},
		{Path: "client_url", Src: c.ClientURL},
		{Path: "description", Src: c.Description},
		{Path: "source", Src: c.Source},
		{Path: "severity", Src: c.Severity},
		{Path: "class", Src: c.Class},
		{Path: "component", Src: c.Component},
		{Path: "group", Src: c.Group},
	}
	fs = appendDetailFields(fs, "details", c.Details)
	for i, im := range c.Images {
		p := fmt.Sprintf("images[%d].", i)
		fs = append(fs, TemplateField{Path: p + "src", Src: im.Src}, TemplateField{Path: p + "alt", Src: im.Alt}, TemplateField{Path: p + "href", Src: im.Href})
	}
	for i, l := range c.Links {
		p := fmt.Sprintf("links[%d].", i)
		fs = append(fs, TemplateField{Path: p + "href", Src: l.Href}, TemplateField{Path: p + "text", Src: l.Text})
	}
	return fs
}
