package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"regexp"

	commoncfg "github.com/prometheus/common/config"
	"gopkg.in/yaml.v3"
)

// redacted is what a secret prints as, everywhere.
const redacted = "<secret>"

// Secret is a string that must never be revealed: it prints, logs, and
// marshals (YAML, JSON, text) as "<secret>". The value is only available
// through Reveal, so that every use of it is explicit and greppable.
type Secret string

// Reveal returns the secret's value, for the one place that needs it (an
// HTTP header, an SMTP login).
func (s Secret) Reveal() string { return string(s) }

// String returns "<secret>", or "" when the secret is empty.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// Format prints the redacted form for every verb, including %#v and %x.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// LogValue keeps the value out of slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalYAML renders "<secret>" (nothing when empty).
func (s Secret) MarshalYAML() (any, error) {
	if s == "" {
		return nil, nil
	}
	return redacted, nil
}

// MarshalJSON renders "<secret>" ("" when empty).
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// MarshalText renders "<secret>" ("" when empty).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// SecretURL is an http(s) URL that must never be revealed (a Slack or
// webhook URL carries its credential in the path). It prints, logs and
// marshals as "<secret>"; Reveal returns the URL.
type SecretURL struct{ *url.URL }

// Reveal returns the URL as a string.
func (s SecretURL) Reveal() string {
	if s.URL == nil {
		return ""
	}
	return s.URL.String()
}

// RevealURL returns the URL; nil for a nil or empty SecretURL.
func (s *SecretURL) RevealURL() *url.URL {
	if s == nil {
		return nil
	}
	return s.URL
}

// String returns "<secret>" (it hides url.URL's String).
func (s SecretURL) String() string {
	if s.URL == nil {
		return ""
	}
	return redacted
}

// Format prints the redacted form for every verb.
func (s SecretURL) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// LogValue keeps the URL out of slog output.
func (s SecretURL) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalYAML renders "<secret>".
func (s SecretURL) MarshalYAML() (any, error) {
	if s.URL == nil {
		return nil, nil
	}
	return redacted, nil
}

// MarshalJSON renders "<secret>".
func (s SecretURL) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// MarshalText renders "<secret>".
func (s SecretURL) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalYAML parses an http(s) URL. Its errors never quote the input.
func (s *SecretURL) UnmarshalYAML(n *yaml.Node) error {
	var str string
	if n.Kind != yaml.ScalarNode || n.Decode(&str) != nil {
		return errors.New("expected a URL string")
	}
	if str == redacted {
		return errors.New("the value is the redacted placeholder <secret>, not a URL")
	}
	u, err := parseHTTPURL(str, true)
	if err != nil {
		return err
	}
	s.URL = u
	return nil
}

// parseHTTPURL parses an absolute http or https URL. With secret set, the
// error does not include any part of the input.
func parseHTTPURL(s string, secret bool) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		if secret {
			return nil, errors.New("invalid URL")
		}
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		if secret {
			return nil, errors.New("unsupported URL scheme: want http or https")
		}
		return nil, fmt.Errorf("unsupported scheme %q for URL", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("missing host for URL")
	}
	return u, nil
}

// URL is an http(s) URL that may be shown (an API endpoint). It marshals
// with any password redacted.
type URL struct{ *url.URL }

// UnmarshalYAML parses an http(s) URL.
func (u *URL) UnmarshalYAML(n *yaml.Node) error {
	var str string
	if n.Kind != yaml.ScalarNode || n.Decode(&str) != nil {
		return errors.New("expected a URL string")
	}
	p, err := parseHTTPURL(str, false)
	if err != nil {
		return err
	}
	u.URL = p
	return nil
}

// MarshalYAML renders the URL, password redacted.
func (u URL) MarshalYAML() (any, error) {
	if u.URL == nil {
		return nil, nil
	}
	return u.Redacted(), nil
}

// MarshalJSON renders the URL, password redacted.
func (u URL) MarshalJSON() ([]byte, error) {
	if u.URL == nil {
		return []byte("null"), nil
	}
	return json.Marshal(u.Redacted())
}

func mustURL(s string) *URL {
	u, err := parseHTTPURL(s, false)
	if err != nil {
		panic(err)
	}
	return &URL{u}
}

// HostPort is a "host:port" address (an SMTP smarthost).
type HostPort struct {
	Host string
	Port string
}

// UnmarshalYAML parses host:port; the port is required.
func (hp *HostPort) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if n.Kind != yaml.ScalarNode || n.Decode(&s) != nil {
		return errors.New("expected a host:port string")
	}
	if s == "" {
		*hp = HostPort{}
		return nil
	}
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return err
	}
	if p == "" {
		return fmt.Errorf("address %q: port cannot be empty", s)
	}
	*hp = HostPort{Host: h, Port: p}
	return nil
}

// String returns host:port, or "" when unset.
func (hp HostPort) String() string {
	if hp.Host == "" && hp.Port == "" {
		return ""
	}
	return net.JoinHostPort(hp.Host, hp.Port)
}

// MarshalYAML renders host:port.
func (hp HostPort) MarshalYAML() (any, error) {
	if hp.String() == "" {
		return nil, nil
	}
	return hp.String(), nil
}

// Regexp is an anchored RE2 regular expression (the deprecated match_re).
type Regexp struct {
	*regexp.Regexp
	original string
}

// UnmarshalYAML compiles ^(?:value)$.
func (re *Regexp) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if n.Kind != yaml.ScalarNode || n.Decode(&s) != nil {
		return errors.New("expected a regular expression string")
	}
	r, err := regexp.Compile("^(?:" + s + ")$")
	if err != nil {
		re.original = s // reported here, not again as a missing value
		return fmt.Errorf("invalid regular expression %q: %w", s, err)
	}
	re.Regexp, re.original = r, s
	return nil
}

// Original is the expression as written.
func (re Regexp) Original() string { return re.original }

// MarshalYAML renders the expression as written.
func (re Regexp) MarshalYAML() (any, error) { return re.original, nil }

// HTTPClientConfig is prometheus/common's HTTP client configuration (basic
// auth, authorization, OAuth2, TLS, proxy, headers), which marshals its
// secrets as "<secret>". Wrapped so that printing it with fmt or slog shows
// the redacted YAML too: prometheus/common's Secret has no String method, so
// fmt would print a bearer token or TLS key verbatim. Build a client with
// commoncfg.NewClientFromConfig(c.HTTPClientConfig, name).
type HTTPClientConfig struct {
	commoncfg.HTTPClientConfig
}

// UnmarshalYAML applies prometheus/common's defaults and validation.
func (c *HTTPClientConfig) UnmarshalYAML(unmarshal func(any) error) error {
	return unmarshal(&c.HTTPClientConfig)
}

// MarshalYAML renders the configuration with secrets redacted.
func (c HTTPClientConfig) MarshalYAML() (any, error) { return c.HTTPClientConfig, nil }

// String renders the redacted YAML.
func (c HTTPClientConfig) String() string {
	b, err := yaml.Marshal(c.HTTPClientConfig)
	if err != nil {
		return "<http_config>"
	}
	return string(b)
}

// Format prints the redacted YAML for every verb.
func (c HTTPClientConfig) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue keeps secrets out of slog output.
func (c HTTPClientConfig) LogValue() slog.Value { return slog.StringValue(c.String()) }

func defaultHTTPConfig() *HTTPClientConfig {
	return &HTTPClientConfig{commoncfg.DefaultHTTPClientConfig}
}

// TLSConfig is prometheus/common's TLS configuration, wrapped like
// HTTPClientConfig so that fmt and slog cannot print its key.
type TLSConfig struct {
	commoncfg.TLSConfig
}

// UnmarshalYAML applies prometheus/common's validation.
func (c *TLSConfig) UnmarshalYAML(unmarshal func(any) error) error {
	return unmarshal(&c.TLSConfig)
}

// MarshalYAML renders the configuration with the key redacted.
func (c TLSConfig) MarshalYAML() (any, error) { return c.TLSConfig, nil }

// String renders the redacted YAML.
func (c TLSConfig) String() string {
	b, err := yaml.Marshal(c.TLSConfig)
	if err != nil {
		return "<tls_config>"
	}
	return string(b)
}

// Format prints the redacted YAML for every verb.
func (c TLSConfig) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue keeps the key out of slog output.
func (c TLSConfig) LogValue() slog.Value { return slog.StringValue(c.String()) }
