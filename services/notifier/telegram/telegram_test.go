package telegram

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/fault"
	"github.com/klaxon-alerts/klaxon/pkg/logtest"
	nt "github.com/klaxon-alerts/klaxon/services/notifier/notifytest"
)

// botToken is the test's secret: it is in the request path.
const botToken = "123456:t3l3gr4mB0tS3cr3t"

const ok = `{"ok":true,"result":{"message_id":7,"chat":{"id":-100}}}`

func newNotifier(t *testing.T, globalYAML, receiverYAML string) (*Notifier, *logtest.Buffer) {
	t.Helper()
	return nt.Build(t, globalYAML, receiverYAML, func(r *config.Receiver) *config.TelegramConfig { return r.TelegramConfigs[0] }, New)
}

// sendMessage to /bot<token>/sendMessage with the chat, thread and parse
// mode; the default HTML message escapes label values. Token and chat id
// come from files and the global section.
func TestSendMessage(t *testing.T) {
	srv := nt.NewServer(t, nt.Status(http.StatusOK, ok))
	dir := t.TempDir()
	tokenFile, chatFile := filepath.Join(dir, "token"), filepath.Join(dir, "chat")
	for f, v := range map[string]string{tokenFile: botToken + "\n", chatFile: "-1001234\n"} {
		if err := os.WriteFile(f, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	n, _ := newNotifier(t, fmt.Sprintf("  telegram_api_url: %s\n  telegram_bot_token_file: %s", srv.URL, tokenFile),
		fmt.Sprintf("    telegram_configs: [{chat_id_file: %s, message_thread_id: 9, disable_notifications: true}]", chatFile))
	a := nt.Alert("web-1", false)
	a.Annotations["summary"] = model.LabelValue("p99 <b>above</b> 2s & rising")
	if _, err := n.Notify(t.Context(), nt.Notification(a)); err != nil {
		t.Fatal(err)
	}
	req := srv.Only(t)
	if req.Method != http.MethodPost || req.Path != "/bot"+botToken+"/sendMessage" || req.Header.Get("Content-Type") != "application/json" {
		t.Errorf("%s %s (%s)", req.Method, req.Path, req.Header.Get("Content-Type"))
	}
	text := req.JSON(t)["text"].(string)
	if !strings.Contains(text, "p99 &lt;b&gt;above&lt;/b&gt; 2s &amp; rising") {
		t.Errorf("HTML text does not escape the annotation:\n%s", text)
	}
	nt.Golden(t, "send-message.json", req.Body)
}

// A Markdown message is cut to 4096 runes; an HTML one over the limit is
// replaced by a note.
func TestLongMessages(t *testing.T) {
	long := strings.Repeat("ñ", 5000)
	for mode, check := range map[string]func(string) bool{
		"Markdown": func(s string) bool { r := []rune(s); return len(r) == maxMessageRunes && r[len(r)-1] == '…' },
		"HTML":     func(s string) bool { return s == tooLong },
	} {
		t.Run(mode, func(t *testing.T) {
			srv := nt.NewServer(t, nt.Status(http.StatusOK, ok))
			n, logs := newNotifier(t, "", fmt.Sprintf("    telegram_configs: [{api_url: %s, bot_token: '%s', chat_id: 1, parse_mode: %s, message: %s}]", srv.URL, botToken, mode, long))
			if _, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", false))); err != nil {
				t.Fatal(err)
			}
			if text := srv.Only(t).JSON(t)["text"].(string); !check(text) {
				t.Errorf("text of %d runes: %.40q...", len([]rune(text)), text)
			}
			if logs.String() == "" {
				t.Error("not logged")
			}
		})
	}
}

// Telegram's refusals: 429 retried after parameters.retry_after, 400 final
// with the description, a 200 {"ok": false} final; the token never shows.
func TestFailures(t *testing.T) {
	for _, tc := range []struct {
		name      string
		status    int
		body      string
		retryable bool
		delay     time.Duration
		want      string
	}{
		{"flood", 429, `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 5","parameters":{"retry_after":5}}`, true, 5 * time.Second, "Too Many Requests"},
		{"chat not found", 400, `{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}`, false, 0, "Bad Request: chat not found"},
		{"bad token", 401, `{"ok":false,"error_code":401,"description":"Unauthorized ` + botToken + `"}`, false, 0, "Unauthorized <redacted>"},
		{"ok false", 200, `{"ok":false,"description":"odd"}`, false, 0, "odd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := nt.NewServer(t, nt.Status(tc.status, tc.body))
			n, logs := newNotifier(t, "", fmt.Sprintf("    telegram_configs: [{api_url: %s, bot_token: '%s', chat_id: 1}]", srv.URL, botToken))
			retryable, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", false)))
			if err == nil || retryable != tc.retryable || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("retryable %v, err %v", retryable, err)
			}
			if d, ok := fault.RetryDelay(err); d != tc.delay || ok != (tc.delay != 0) {
				t.Errorf("delay %v %v", d, ok)
			}
			if strings.Contains(err.Error(), "t3l3gr4mB0tS3cr3t") || strings.Contains(logs.String(), "t3l3gr4mB0tS3cr3t") {
				t.Errorf("token leaked: %v", err)
			}
		})
	}
}
