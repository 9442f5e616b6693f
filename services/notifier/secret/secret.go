// Package secret keeps credentials out of the errors and logs of the
// notifier's integrations. A Set holds the strings that must not be shown
// (a webhook URL with its path, query and password; a token; a password);
// Scrub replaces them in text and Redact in an error, keeping the error's
// chain for errors.Is and errors.As.
//
// net/http's *url.Error quotes the request URL, and a Slack or webhook URL
// carries its credential in the path: every error that leaves an
// integration goes through Redact.
package secret

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"

	commoncfg "github.com/prometheus/common/config"
)

// Redacted replaces a secret in errors and logs.
const Redacted = "<redacted>"

// Set is the strings that must not be shown.
type Set []string

// Of returns the set of the given secrets, empty ones left out.
func Of(secrets ...string) Set {
	var s Set
	for _, v := range secrets {
		if v != "" {
			s = append(s, v)
		}
	}
	return s
}

// URL returns the secrets of a URL: the URL itself (as written and with its
// password masked), its path and query, and its password.
func URL(u *url.URL) Set {
	if u == nil {
		return nil
	}
	s := Set{u.String(), u.Redacted()}
	if u.RawQuery != "" || (u.Path != "" && u.Path != "/") {
		s = append(s, u.RequestURI(), u.EscapedPath(), u.Path)
		if u.RawQuery != "" {
			s = append(s, u.RawQuery)
		}
	}
	if pw, ok := u.User.Password(); ok && pw != "" {
		s = append(s, pw, url.QueryEscape(pw))
	}
	return s
}

// HTTPConfig returns the inline credentials of an http_config: the basic
// auth password (and its encoded header form), the authorization
// credentials, the bearer token, and the OAuth2 client secret. Credentials
// in files are read by the HTTP client and are not known here.
func HTTPConfig(c *commoncfg.HTTPClientConfig) Set {
	if c == nil {
		return nil
	}
	var s Set
	if b := c.BasicAuth; b != nil && b.Password != "" {
		s = append(s, string(b.Password), base64.StdEncoding.EncodeToString([]byte(b.Username+":"+string(b.Password))))
	}
	if a := c.Authorization; a != nil {
		s = append(s, string(a.Credentials))
	}
	s = append(s, string(c.BearerToken))
	if o := c.OAuth2; o != nil {
		s = append(s, string(o.ClientSecret))
	}
	return Of(s...)
}

// With returns s and more.
func (s Set) With(more Set) Set { return append(slices.Clip(s), more...) }

// Scrub replaces every secret in text, longest first. Secrets of one byte
// are not replaced (they would garble the text, and hide nothing).
func (s Set) Scrub(text string) string {
	sorted := slices.SortedFunc(slices.Values(s), func(a, b string) int { return len(b) - len(a) })
	for _, secret := range sorted {
		if len(secret) > 1 {
			text = strings.ReplaceAll(text, secret, Redacted)
		}
	}
	return text
}

// Redact returns err with every secret removed from its text. Any
// *url.Error in its chain has its URL replaced; the chain is kept (Unwrap),
// so errors.Is still finds context.DeadlineExceeded and fault
// classifications. Redact(nil) is nil.
func (s Set) Redact(err error) error {
	if err == nil {
		return nil
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = whereTo(ue.URL)
	}
	return &redactedError{msg: s.Scrub(err.Error()), err: err}
}

// whereTo is a URL as an error may show it: where the request went (scheme
// and host), its path, query and credentials — which may be the secret, as
// in a Slack webhook — masked.
func whereTo(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return Redacted
	}
	where := u.Scheme + "://" + u.Host
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		where += "/" + Redacted
	}
	return where
}

// redactedError is an error whose text had its secrets removed.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// ErrFile is wrapped by the error for a *_file setting whose file cannot
// be read or is empty.
var ErrFile = errors.New("read secret file")

// Value returns inline when set, else the content of file (read at each
// call, so that a rotated secret takes effect), surrounding whitespace
// trimmed. The error names the path, never the content.
func Value(inline, file string) (string, error) {
	if inline != "" || file == "" {
		return inline, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%w %s: %w", ErrFile, file, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("%w %s: empty", ErrFile, file)
	}
	return v, nil
}

// URLValue is Value for a URL: inline when set, else parsed from file. The
// error never quotes the file's content.
func URLValue(inline *url.URL, file string) (*url.URL, error) {
	if inline != nil {
		return inline, nil
	}
	raw, err := Value("", file)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// url.Parse quotes its input: do not wrap its error.
		return nil, fmt.Errorf("%w %s: content is not an http(s) URL", ErrFile, file)
	}
	return u, nil
}
