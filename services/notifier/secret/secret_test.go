package secret

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
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
	if !errors.As(red, &ue) || ue.URL != Redacted || strings.Contains(ue.Error(), "tok3n") {
		t.Errorf("url.Error not redacted: %v", ue)
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
