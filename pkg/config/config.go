// Package config loads Klaxon's configuration, which is Alertmanager's
// configuration file: global settings, the routing tree, receivers, inhibition
// rules, time intervals and templates. Parsing is strict: an unknown key, a
// wrong type or a broken rule is an *Error naming the file, the line and the
// field path (route.routes[2].group_wait); integrations Klaxon does not
// support yet are named as such. Secrets are held in types that print as
// "<secret>" everywhere; String renders the whole configuration with them
// redacted (for /api/v2/status).
//
// Semantics follow Alertmanager's documentation and source; see pkg/route
// for the routing tree built from Route and pkg/timeinterval for time
// intervals.
package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/klaxon-alerts/klaxon/pkg/matcher"
	"github.com/klaxon-alerts/klaxon/pkg/timeinterval"
)

// Config is a loaded, validated configuration. Treat it as read-only: stages
// share one value per revision.
type Config struct {
	Global       *GlobalConfig  `yaml:"global" json:"global"`
	Route        *Route         `yaml:"route" json:"route"`
	Receivers    []*Receiver    `yaml:"receivers,omitempty" json:"receivers,omitempty"`
	InhibitRules []*InhibitRule `yaml:"inhibit_rules,omitempty" json:"inhibit_rules,omitempty"`
	// TimeIntervals holds time_intervals and the deprecated
	// mute_time_intervals, merged (names are unique across both).
	TimeIntervals []*TimeInterval `yaml:"time_intervals,omitempty" json:"time_intervals,omitempty"`
	// Templates are template file globs, relative ones joined to the
	// configuration file's directory.
	Templates []string `yaml:"templates" json:"templates"`

	// Original is the file exactly as loaded; Hash is computed from it.
	Original string `yaml:"-" json:"-"`
	// File is the path given to Load or Parse.
	File string `yaml:"-" json:"-"`

	receivers map[string]*Receiver
}

// TimeInterval is a named list of intervals; the name is in force when any
// of them contains the instant.
type TimeInterval struct {
	Name          string                      `yaml:"name" json:"name"`
	TimeIntervals []timeinterval.TimeInterval `yaml:"time_intervals" json:"time_intervals"`

	pos position
}

func (t *TimeInterval) setPosition(p position) { t.pos = p }

func (t *TimeInterval) validate() error {
	if t.Name == "" {
		return errors.New("missing name in time interval")
	}
	return nil
}

// rawConfig is the file's top level as written.
type rawConfig struct {
	Global            *GlobalConfig   `yaml:"global"`
	Route             *Route          `yaml:"route"`
	Receivers         []*Receiver     `yaml:"receivers"`
	InhibitRules      []*InhibitRule  `yaml:"inhibit_rules"`
	TimeIntervals     []*TimeInterval `yaml:"time_intervals"`
	MuteTimeIntervals []*TimeInterval `yaml:"mute_time_intervals"`
	Templates         []string        `yaml:"templates"`
}

// Load reads and parses the file at path. Relative template globs and
// http_config file paths are resolved against the file's directory.
// Matchers are read in Alertmanager's default mode (Parser reads in
// another).
func Load(path string) (*Config, error) { return Parser{}.Load(path) }

// Parse parses and validates a configuration. filename names the source in
// errors; when it is not empty, relative template globs and http_config file
// paths are resolved against its directory (as Load does), so the same bytes
// parse to the same Config in every process.
func Parse(data []byte, filename string) (*Config, error) { return Parser{}.Parse(data, filename) }

// Parser reads configurations with a matcher mode: how `matchers` lists
// parse and which group_by and equal label names are valid (Alertmanager's
// --enable-feature=classic-mode or utf8-strict-mode).
type Parser struct {
	Matchers matcher.Mode
}

// Load is the package's Load in p's mode.
func (p Parser) Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	return p.Parse(data, path)
}

// Parse is the package's Parse in p's mode.
func (p Parser) Parse(data []byte, filename string) (*Config, error) {
	d := &decoder{file: filename, mode: p.Matchers}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &Error{File: filename, Line: yamlErrorLine(err), Err: cleanSyntaxError(err)}
	}
	var raw rawConfig
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		d.decode(doc.Content[0], reflectValue(&raw), "")
	} else if len(doc.Content) > 1 {
		d.failf(&doc, "", "expected one YAML document")
	}
	if len(d.errs) > 0 {
		return nil, errors.Join(d.errs...)
	}
	cfg := &Config{
		Global:        raw.Global,
		Route:         raw.Route,
		Receivers:     raw.Receivers,
		InhibitRules:  raw.InhibitRules,
		TimeIntervals: append(raw.MuteTimeIntervals, raw.TimeIntervals...),
		Templates:     raw.Templates,
		Original:      string(data),
		File:          filename,
	}
	if cfg.Global == nil {
		g := DefaultGlobalConfig()
		cfg.Global = &g
	}
	v := &validation{decoder: d}
	v.check(cfg, &raw)
	if len(d.errs) > 0 {
		return nil, errors.Join(d.errs...)
	}
	if filename != "" {
		cfg.resolvePaths(filepath.Dir(filename))
	}
	return cfg, nil
}

// resolvePaths joins relative template globs and http_config file paths to
// dir, as Alertmanager does. Other *_file fields are used as written.
func (c *Config) resolvePaths(dir string) {
	for i, t := range c.Templates {
		if t != "" && !filepath.IsAbs(t) {
			c.Templates[i] = filepath.Join(dir, t)
		}
	}
	seen := map[*HTTPClientConfig]bool{}
	set := func(h *HTTPClientConfig) {
		if h != nil && !seen[h] {
			seen[h] = true
			h.SetDirectory(dir)
		}
	}
	set(c.Global.HTTPConfig)
	for _, r := range c.Receivers {
		for _, w := range r.WebhookConfigs {
			set(w.HTTPConfig)
		}
		for _, s := range r.SlackConfigs {
			set(s.HTTPConfig)
		}
	}
}

// Receiver returns the named receiver, or nil.
func (c *Config) Receiver(name string) *Receiver { return c.receivers[name] }

// Intervals returns the time intervals by name, for evaluating a route's
// mute_time_intervals and active_time_intervals.
func (c *Config) Intervals() timeinterval.Intervals {
	out := make(timeinterval.Intervals, len(c.TimeIntervals))
	for _, ti := range c.TimeIntervals {
		out[ti.Name] = ti.TimeIntervals
	}
	return out
}

// TemplateFiles expands the template globs into the files they match.
func (c *Config) TemplateFiles() ([]string, error) {
	var files []string
	for _, t := range c.Templates {
		m, err := filepath.Glob(t)
		if err != nil {
			return nil, fmt.Errorf("template glob %q: %w", t, err)
		}
		files = append(files, m...)
	}
	return files, nil
}

// Hash is the hex SHA-256 of Original: equal files, equal hashes.
func (c *Config) Hash() string {
	sum := sha256.Sum256([]byte(c.Original))
	return hex.EncodeToString(sum[:])
}

// HashValue is Hash as a number for a Prometheus gauge (klaxon_config_hash):
// the first 48 bits of the SHA-256, which a float64 holds exactly.
func (c *Config) HashValue() float64 {
	sum := sha256.Sum256([]byte(c.Original))
	var b [8]byte
	copy(b[2:], sum[:6])
	return float64(binary.BigEndian.Uint64(b[:]))
}

// String renders the configuration as YAML with every secret shown as
// "<secret>" (what Alertmanager's /api/v2/status reports as the config).
func (c *Config) String() string {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return fmt.Sprintf("<error rendering configuration: %v>", err)
	}
	_ = enc.Close()
	return buf.String()
}

// Durations of the root route when the file does not set them.
const (
	DefaultGroupWait      = 30 * time.Second
	DefaultGroupInterval  = 5 * time.Minute
	DefaultRepeatInterval = 4 * time.Hour
)
