package opsgenie

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/logtest"
	"github.com/klaxon-alerts/klaxon/services/notifier/notification"
	nt "github.com/klaxon-alerts/klaxon/services/notifier/notifytest"
)

// apiKey is the test's secret; the servers echo it back in errors.
const apiKey = "0psg3n13-k3y-s3cr3t"

func newNotifier(t *testing.T, globalYAML, receiverYAML string) (*Notifier, *logtest.Buffer) {
	t.Helper()
	return nt.Build(t, globalYAML, receiverYAML, func(r *config.Receiver) *config.OpsGenieConfig { return r.OpsGenieConfigs[0] }, New)
}

// A firing group creates an alert named by the group key's hash, with
// responders, tags, priority and details; update_alerts then updates its
// message and description. The key is the GenieKey authorization.
func TestCreateAndUpdate(t *testing.T) {
	srv := nt.NewServer(t, nt.Status(http.StatusAccepted, `{"result":"Request will be processed","took":0.1,"requestId":"x"}`))
	n, _ := newNotifier(t, "", fmt.Sprintf(`    opsgenie_configs:
      - api_url: %s/base
        api_key: %s
        priority: '{{ if eq .CommonLabels.severity "critical" }}P1{{ else }}P3{{ end }}'
        tags: 'latency,{{ .CommonLabels.alertname }},,'
        actions: 'restart, page'
        entity: '{{ .CommonLabels.instance }}'
        note: a note
        details: {team: web, severity: overridden}
        update_alerts: true
        responders:
          - {name: sre, type: Team}
          - {name: 'a,b', type: teams}
          - {username: jane@example.org, type: user}
          - {id: '{{ .CommonLabels.nope }}', type: '{{ .CommonLabels.nope }}'}`, srv.URL, apiKey))
	if _, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", false))); err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want create, message and description", len(reqs))
	}
	alias := nt.Notification().KeyHash()
	for i, want := range []struct{ method, path, query string }{
		{"POST", "/base/v2/alerts", ""},
		{"PUT", "/base/v2/alerts/" + alias + "/message", "identifierType=alias"},
		{"PUT", "/base/v2/alerts/" + alias + "/description", "identifierType=alias"},
	} {
		r := reqs[i]
		if r.Method != want.method || r.Path != want.path || r.Query != want.query {
			t.Errorf("request %d: %s %s?%s, want %s %s?%s", i, r.Method, r.Path, r.Query, want.method, want.path, want.query)
		}
		if got := r.Header.Get("Authorization"); got != "GenieKey "+apiKey {
			t.Errorf("request %d: authorization %q", i, got)
		}
	}
	nt.Golden(t, "create.json", reqs[0].Body)
	if got := reqs[1].JSON(t)["message"]; got != "[FIRING:1] HighLatency (web-1 critical)" {
		t.Errorf("message update %v", got)
	}
}

// A resolved group closes the alert by alias, the key read from its file
// (falling back to the global one).
func TestCloseWithGlobalKeyFile(t *testing.T) {
	srv := nt.NewServer(t, nil)
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte(apiKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n, _ := newNotifier(t, fmt.Sprintf("  opsgenie_api_url: %s\n  opsgenie_api_key_file: %s", srv.URL, keyFile), "    opsgenie_configs: [{}]")
	if _, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", true))); err != nil {
		t.Fatal(err)
	}
	req := srv.Only(t)
	if req.Method != "POST" || req.Path != "/v2/alerts/"+nt.Notification().KeyHash()+"/close" || req.Query != "identifierType=alias" {
		t.Errorf("%s %s?%s", req.Method, req.Path, req.Query)
	}
	if req.Header.Get("Authorization") != "GenieKey "+apiKey {
		t.Errorf("authorization %q", req.Header.Get("Authorization"))
	}
	nt.Golden(t, "close.json", req.Body)
}

// The message is cut to Opsgenie's 130 runes.
func TestLongMessageIsTruncated(t *testing.T) {
	srv := nt.NewServer(t, nil)
	n, logs := newNotifier(t, "", fmt.Sprintf("    opsgenie_configs: [{api_url: %s, api_key: k, message: '%s'}]", srv.URL, strings.Repeat("ü", 200)))
	if _, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", false))); err != nil {
		t.Fatal(err)
	}
	msg := []rune(srv.Only(t).JSON(t)["message"].(string))
	if len(msg) != maxMessageRunes || msg[len(msg)-1] != '…' {
		t.Errorf("message of %d runes", len(msg))
	}
	if !strings.Contains(logs.String(), "truncated") {
		t.Error("truncation not logged")
	}
}

// Opsgenie's 422 is final and names the field; its 429 is retried; the
// key never shows.
func TestFailures(t *testing.T) {
	for _, tc := range []struct {
		status    int
		body      string
		retryable bool
		want      string
	}{
		{422, `{"message":"Request body is not processable. Please check the errors.","errors":{"message":"Message can not be empty."},"took":0.0}`, false, "Message can not be empty."},
		{401, `{"message":"Key ` + apiKey + ` is invalid"}`, false, "Key <redacted> is invalid"},
		{429, `{"message":"rate limited"}`, true, "rate limited"},
		{503, `unavailable`, true, "unavailable"},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			srv := nt.NewServer(t, nt.Status(tc.status, tc.body))
			n, logs := newNotifier(t, "", fmt.Sprintf("    opsgenie_configs: [{api_url: %s, api_key: %s}]", srv.URL, apiKey))
			retryable, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", false)))
			var se *notification.StatusError
			if err == nil || retryable != tc.retryable || !errors.As(err, &se) || se.Code != tc.status {
				t.Fatalf("retryable %v, err %v", retryable, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q lacks %q", err, tc.want)
			}
			if strings.Contains(err.Error(), apiKey) || strings.Contains(logs.String(), apiKey) {
				t.Errorf("key leaked: %v", err)
			}
		})
	}
}
