package secret

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	commoncfg "github.com/prometheus/common/config"
)

func TestRedact(t *testing.T) {
	u, err := url.Parse("https://user:pa55word@hooks.example/services/T0/B0/tok3n?key=k3y")
	if err != nil {
		t.Fatal(err)
	}
	s := URL(u).With(Of("xoxb-bot-token", ""))
	req, _ := http.NewRequest(http.MethodPost, u.String(), nil)
	_, doErr := (&http.Client{Transport: failing{}}).Do(req)
	err = fmt.Errorf("post: %w (token xoxb-bot-token, path /services/T0/B0/tok3n): %w", doErr, context.DeadlineExceeded)
	red := s.Redact(err)
	for _, leak := range []string{"pa55word", "tok3n", "k3y", "xoxb-bot-token", "hooks.example/services"} {
		if strings.Contains(red.Error(), leak) {
			t.Errorf("redacted error %q leaks %q", red, leak)
		}
	}
	if !errors.Is(red, context.DeadlineExceeded) {
		t.Error("chain lost")
	}
	var ue *url.Error
	// Where it tried to go is said — scheme and host — and nothing more.
	if !errors.As(red, &ue) || ue.URL != "https://hooks.example/"+Redacted || strings.Contains(ue.Error(), "tok3n") {
		t.Errorf("url.Error not redacted to its host: %v", ue)
	}
	if s.Redact(nil) != nil {
		t.Error("Redact(nil) != nil")
	}
	if got := Of("x").Scrub("a x b"); got != "a x b" {
		t.Errorf("one-byte secret replaced: %q", got)
	}
}

type failing struct{}

func (failing) RoundTrip(*http.Request) (*http.Response, error) { return nil, errors.New("refused") }

func FuzzScrub(f *testing.F) {
	f.Add("http://u:pass@h/hooks/path?key=q", "error at /hooks/path")
	f.Fuzz(func(t *testing.T, raw, text string) {
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		out := URL(u).Scrub(text + " " + u.String())
		if strings.Contains(out, u.String()) && len(u.String()) > 1 {
			t.Fatalf("Scrub(%q) kept the URL %q", out, u.String())
		}
	})
}

func TestHTTPConfig(t *testing.T) {
	c := &commoncfg.HTTPClientConfig{
		BasicAuth:     &commoncfg.BasicAuth{Username: "u", Password: "basic-pa55"},
		Authorization: &commoncfg.Authorization{Type: "Bearer", Credentials: "bearer-t0ken"},
	}
	text := HTTPConfig(c).Scrub("Authorization: Basic dTpiYXNpYy1wYTU1 / basic-pa55 / Bearer bearer-t0ken")
	for _, leak := range []string{"dTpiYXNpYy1wYTU1", "basic-pa55", "bearer-t0ken"} {
		if strings.Contains(text, leak) {
			t.Errorf("%q leaks %q", text, leak)
		}
	}
	if HTTPConfig(nil) != nil || len(HTTPConfig(&commoncfg.HTTPClientConfig{})) != 0 {
		t.Error("secrets of an empty config")
	}
}

// Value prefers the inline secret, else reads the file at each call
// (trimmed); its errors name the path and never the content.
func TestValue(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte("  t0k3n-one\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if v, err := Value("inline", file); v != "inline" || err != nil {
		t.Errorf("Value(inline, file) = %q, %v", v, err)
	}
	if v, err := Value("", file); v != "t0k3n-one" || err != nil {
		t.Errorf("Value(file) = %q, %v", v, err)
	}
	if err := os.WriteFile(file, []byte("t0k3n-two"), 0o600); err != nil {
		t.Fatal(err)
	}
	if v, _ := Value("", file); v != "t0k3n-two" {
		t.Errorf("a rotated file is not re-read: %q", v)
	}
	empty := filepath.Join(dir, "empty")
	_ = os.WriteFile(empty, []byte("\n"), 0o600)
	for _, f := range []string{empty, filepath.Join(dir, "missing")} {
		if _, err := Value("", f); !errors.Is(err, ErrFile) || !strings.Contains(err.Error(), f) {
			t.Errorf("Value(%s): %v", f, err)
		}
	}
	bad := filepath.Join(dir, "bad-url")
	_ = os.WriteFile(bad, []byte("ftp://user:s3cr3tpw@host/x"), 0o600)
	if _, err := URLValue(nil, bad); !errors.Is(err, ErrFile) || strings.Contains(err.Error(), "s3cr3tpw") {
		t.Errorf("URLValue(bad): %v", err)
	}
	_ = os.WriteFile(bad, []byte("https://hooks.example/abc\n"), 0o600)
	if u, err := URLValue(nil, bad); err != nil || u.Path != "/abc" {
		t.Errorf("URLValue = %v, %v", u, err)
	}
}
