package pushover

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/logtest"
	nt "github.com/klaxon-alerts/klaxon/services/notifier/notifytest"
)

// The test's secrets: the application token and the user key.
const (
	token   = "azGDORePK8gMaC0QOYAMyEEuzJnyUi"
	userKey = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG"
)

const ok = `{"status":1,"request":"647d2300-702c-4b38-8b2f-d56326ae460b"}`

func newNotifier(t *testing.T, receiverYAML string) (*Notifier, *logtest.Buffer) {
	t.Helper()
	return nt.Build(t, "", receiverYAML, func(r *config.Receiver) *config.PushoverConfig { return r.PushoverConfigs[0] }, New)
}

// form decodes a request's form as JSON (for a golden file), one value
// per parameter.
func form(t *testing.T, r nt.Request) (url.Values, []byte) {
	t.Helper()
	v, err := url.ParseQuery(string(r.Body))
	if err != nil {
		t.Fatal(err)
	}
	flat := map[string]string{}
	for k := range v {
		flat[k] = v.Get(k)
	}
	b, _ := json.Marshal(flat)
	return v, b
}

// A firing group: emergency priority with retry and expire in seconds,
// ttl, the default title, message and URL; the token file is read at send.
func TestMessage(t *testing.T) {
	srv := nt.NewServer(t, nt.Status(http.StatusOK, ok))
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n, _ := newNotifier(t, fmt.Sprintf("    pushover_configs: [{api_url: %s, token_file: %s, user_key: %s, retry: 30s, expire: 2h, ttl: 1d, sound: siren}]", srv.URL, tokenFile, userKey))
	if _, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", false))); err != nil {
		t.Fatal(err)
	}
	req := srv.Only(t)
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || req.Query != "" {
		t.Errorf("%s ?%s (%s)", req.Method, req.Query, req.Header.Get("Content-Type"))
	}
	v, body := form(t, req)
	if v.Get("token") != token || v.Get("user") != userKey || v.Get("priority") != "2" || v.Get("retry") != "30" || v.Get("expire") != "7200" || v.Get("ttl") != "86400" {
		t.Errorf("form %v", v)
	}
	nt.Golden(t, "message.json", body)
}

// A resolved group is sent at normal priority; html=1 escapes values.
func TestResolvedHTML(t *testing.T) {
	srv := nt.NewServer(t, nt.Status(http.StatusOK, ok))
	n, _ := newNotifier(t, fmt.Sprintf("    pushover_configs: [{api_url: %s, token: %s, user_key: %s, html: true, message: '<b>{{ .CommonLabels.alertname }}</b> {{ .CommonAnnotations.summary }}'}]", srv.URL, token, userKey))
	a := nt.Alert("<web-1>", true)
	if _, err := n.Notify(t.Context(), nt.Notification(a)); err != nil {
		t.Fatal(err)
	}
	v, _ := form(t, srv.Only(t))
	if v.Get("priority") != "0" || v.Get("html") != "1" || v.Get("message") != "<b>HighLatency</b> Latency is high on &lt;web-1&gt;" || v.Has("ttl") {
		t.Errorf("form %v", v)
	}
}

// The message is cut to 1024 runes, the title to 250, the URL to 512,
// each ending with an ellipsis; an empty message is "(no details)".
func TestLimits(t *testing.T) {
	for _, tc := range []struct {
		message, field string
		want           func(string) bool
	}{
		{strings.Repeat("ñ", 2000), "message", func(s string) bool { return utf8.RuneCountInString(s) == 1024 && strings.HasSuffix(s, "…") }},
		{"  ", "message", func(s string) bool { return s == "(no details)" }},
		{"x", "title", func(s string) bool { return utf8.RuneCountInString(s) == 250 && strings.HasSuffix(s, "…") }},
		{"x", "url", func(s string) bool { return utf8.RuneCountInString(s) == 512 && strings.HasSuffix(s, "…") }},
	} {
		srv := nt.NewServer(t, nt.Status(http.StatusOK, ok))
		n, _ := newNotifier(t, fmt.Sprintf("    pushover_configs: [{api_url: %s, token: %s, user_key: %s, message: %q, title: %q, url: %q}]",
			srv.URL, token, userKey, tc.message, strings.Repeat("t", 300), "http://x/"+strings.Repeat("u", 600)))
		if _, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", false))); err != nil {
			t.Fatal(err)
		}
		if v, _ := form(t, srv.Only(t)); !tc.want(v.Get(tc.field)) {
			t.Errorf("%s = %.60q", tc.field, v.Get(tc.field))
		}
	}
}

// Pushover's refusal is final with its error text and without the keys.
func TestRefused(t *testing.T) {
	srv := nt.NewServer(t, nt.Status(http.StatusBadRequest, `{"user":"invalid","errors":["user identifier is not a valid user, group, or subscribed user key `+userKey+`"],"status":0}`))
	n, logs := newNotifier(t, fmt.Sprintf("    pushover_configs: [{api_url: %s, token: %s, user_key: %s}]", srv.URL, token, userKey))
	retryable, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", false)))
	if err == nil || retryable || !strings.Contains(err.Error(), "user identifier is not a valid user") {
		t.Fatalf("retryable %v, err %v", retryable, err)
	}
	for _, s := range []string{token, userKey} {
		if strings.Contains(err.Error(), s) || strings.Contains(logs.String(), s) {
			t.Errorf("secret leaked: %v", err)
		}
	}
}
