package discord

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/fault"
	"github.com/klaxon-alerts/klaxon/pkg/logtest"
	nt "github.com/klaxon-alerts/klaxon/services/notifier/notifytest"
)

// hookPath is the secret part of the webhook URL, echoed back by servers.
const hookPath = "/api/webhooks/123456/d1sc0rdT0k3nS3cr3t"

func newNotifier(t *testing.T, receiverYAML string) (*Notifier, *logtest.Buffer) {
	t.Helper()
	return nt.Build(t, "", receiverYAML, func(r *config.Receiver) *config.DiscordConfig { return r.DiscordConfigs[0] }, New)
}

// A message with one embed, red while firing and green once resolved,
// posted as JSON to the webhook.
func TestMessage(t *testing.T) {
	srv := nt.NewServer(t, nt.Status(http.StatusNoContent, ""))
	n, _ := newNotifier(t, fmt.Sprintf("    discord_configs: [{webhook_url: '%s%s', content: '<@&123> {{ .Status }}', username: Klaxon, avatar_url: 'https://klaxon.example/icon.png'}]", srv.URL, hookPath))
	for _, tc := range []struct {
		golden   string
		resolved bool
		color    float64
	}{{"firing.json", false, colorRed}, {"resolved.json", true, colorGreen}} {
		before := len(srv.Requests())
		if _, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", tc.resolved))); err != nil {
			t.Fatal(err)
		}
		req := srv.Requests()[before]
		if req.Method != http.MethodPost || req.Path != hookPath || req.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s (%s)", req.Method, req.Path, req.Header.Get("Content-Type"))
		}
		if got := req.JSON(t)["embeds"].([]any)[0].(map[string]any)["color"]; got != tc.color {
			t.Errorf("color %v, want %v", got, tc.color)
		}
		nt.Golden(t, tc.golden, req.Body)
	}
}

// Title, description and content are cut to Discord's limits.
func TestTruncation(t *testing.T) {
	srv := nt.NewServer(t, nt.Status(http.StatusNoContent, ""))
	long := strings.Repeat("ß", 5000)
	n, logs := newNotifier(t, fmt.Sprintf("    discord_configs: [{webhook_url: '%s', title: %s, message: %s, content: %s}]", srv.URL, long, long, long))
	if _, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", false))); err != nil {
		t.Fatal(err)
	}
	body := srv.Only(t).JSON(t)
	e := body["embeds"].([]any)[0].(map[string]any)
	for field, want := range map[string]int{"title": maxTitleRunes, "description": maxDescriptionRunes} {
		if got := len([]rune(e[field].(string))); got != want {
			t.Errorf("%s: %d runes, want %d", field, got, want)
		}
	}
	if got := len([]rune(body["content"].(string))); got != maxContentRunes {
		t.Errorf("content: %d runes", got)
	}
	if !strings.Contains(logs.String(), "truncated") {
		t.Error("truncation not logged")
	}
}

// A rate-limited answer is retried after Discord's retry_after; a refusal
// is final with Discord's message; the URL never shows; the URL file is
// read at send time.
func TestFailures(t *testing.T) {
	srv := nt.NewServer(t, func(w http.ResponseWriter, r nt.Request, i int) {
		if i == 0 {
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"message": "You are being rate limited.", "retry_after": 1.5, "global": false}`)
			return
		}
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"message": "Unknown Webhook %s", "code": 10015}`, r.Path)
	})
	urlFile := filepath.Join(t.TempDir(), "url")
	if err := os.WriteFile(urlFile, []byte(srv.URL+hookPath+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n, logs := newNotifier(t, "    discord_configs: [{webhook_url_file: "+urlFile+"}]")
	retryable, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", false)))
	if d, ok := fault.RetryDelay(err); !retryable || !ok || d != 1500*time.Millisecond {
		t.Errorf("429: retryable %v, delay %v %v, err %v", retryable, d, ok, err)
	}
	retryable, err = n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", false)))
	if retryable || err == nil || !strings.Contains(err.Error(), "Unknown Webhook") || !strings.Contains(err.Error(), "code 10015") {
		t.Errorf("404: retryable %v, err %v", retryable, err)
	}
	for _, text := range []string{err.Error(), logs.String()} {
		if strings.Contains(text, "d1sc0rdT0k3nS3cr3t") {
			t.Errorf("webhook URL leaked: %s", text)
		}
	}
	if len(srv.Requests()) != 2 {
		t.Errorf("%d requests", len(srv.Requests()))
	}
}
