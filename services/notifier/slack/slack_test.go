package slack

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/fault"
	"github.com/klaxon-alerts/klaxon/services/notifier/notification"
	"github.com/klaxon-alerts/klaxon/services/notifier/secret"
	"github.com/klaxon-alerts/klaxon/services/notifier/template"
)

var t0 = time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)

// The secrets of these tests: a webhook path and a bot token. The test
// servers echo them back in their answers.
const (
	hookPath = "/services/T000/B000/s3cr3tW3bh00kT0k3n"
	botToken = "xoxb-0000-s3cr3t-b0t-t0k3n"
)

// request is one request a test server saw.
type request struct {
	Path string
	Form url.Values
	JSON map[string]any
	Auth string
}

// server is an httptest Slack: it records requests and answers with the
// scripted function (default: a webhook's "ok").
type server struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []request
	answer func(w http.ResponseWriter, r request, i int)
}

func newServer(t *testing.T, answer func(w http.ResponseWriter, r request, i int)) *server {
	t.Helper()
	s := &server{answer: answer}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r := request{Path: req.URL.Path, Auth: req.Header.Get("Authorization")}
		switch req.Header.Get("Content-Type") {
		case "application/json":
			if err := json.Unmarshal(body, &r.JSON); err != nil {
				t.Errorf("body is not JSON: %v", err)
			}
		case "application/x-www-form-urlencoded":
			r.Form, _ = url.ParseQuery(string(body))
		default:
			t.Errorf("content type %q", req.Header.Get("Content-Type"))
		}
		s.mu.Lock()
		s.reqs = append(s.reqs, r)
		i := len(s.reqs) - 1
		s.mu.Unlock()
		if s.answer == nil {
			fmt.Fprint(w, "ok")
			return
		}
		s.answer(w, r, i)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) requests() []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]request(nil), s.reqs...)
}

func jsonAnswer(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

// slackConfig parses one slack_configs entry the way the notifier gets it:
// through config.Parse, global fallbacks applied.
func slackConfig(t *testing.T, entry string) *config.SlackConfig {
	t.Helper()
	yml := "route: {receiver: team}\nreceivers:\n  - name: team\n    slack_configs:\n      - " +
		strings.ReplaceAll(strings.TrimSpace(entry), "\n", "\n        ") + "\n"
	cfg, err := config.Parse([]byte(yml), "")
	if err != nil {
		t.Fatalf("config:\n%s\n%v", yml, err)
	}
	return cfg.Receiver("team").SlackConfigs[0]
}

func newNotifier(t *testing.T, cfg *config.SlackConfig) (*Notifier, *bytes.Buffer) {
	t.Helper()
	tmpl, err := template.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	n, err := New(cfg, tmpl, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	n.now = func() time.Time { return t0 }
	return n, &logs
}

func testNotification(alerts ...alert.Alert) *notification.Notification {
	return &notification.Notification{
		Receiver:    "team",
		GroupKey:    `{}:{alertname="DiskFull"}`,
		GroupLabels: model.LabelSet{"alertname": "DiskFull"},
		Alerts:      alerts,
		At:          t0,
		Reason:      "first notification",
		ExternalURL: "http://klaxon.example",
	}
}

func diskFull(instance string, endsAt time.Time) alert.Alert {
	return alert.Alert{
		Labels:      model.LabelSet{"alertname": "DiskFull", "instance": model.LabelValue(instance), "severity": "page"},
		Annotations: model.LabelSet{"summary": model.LabelValue("Disk full on " + instance)},
		StartsAt:    t0.Add(-time.Hour),
		EndsAt:      endsAt,
	}
}

func assertNoSecret(t *testing.T, what, text string) {
	t.Helper()
	for _, s := range []string{hookPath, "s3cr3tW3bh00kT0k3n", botToken, "s3cr3t-b0t-t0k3n"} {
		if strings.Contains(text, s) {
			t.Errorf("%s leaks a secret (%q): %s", what, s, text)
		}
	}
}

// TestWebhookEveryField: every slack_config field is templated and sent in
// the incoming webhook's JSON.
func TestWebhookEveryField(t *testing.T) {
	srv := newServer(t, nil)
	cfg := slackConfig(t, fmt.Sprintf(`
api_url: %q
channel: '#ops-{{ .CommonLabels.severity }}'
username: 'klaxon-{{ .Receiver }}'
icon_emoji: ':{{ .Status }}:'
icon_url: 'https://icons.example/{{ .Status }}.png'
color: '{{ if eq .Status "firing" }}#ff0000{{ end }}'
title: '{{ .CommonLabels.alertname }} ({{ len .Alerts.Firing }})'
title_link: 'https://grafana.example/{{ .GroupLabels.alertname }}'
pretext: 'pre {{ .Status }}'
text: '{{ range .Alerts }}{{ .Annotations.summary }};{{ end }}'
message_text: 'msg {{ .NotificationReason }}'
fallback: 'fb {{ .Status }}'
callback_id: 'cb-{{ .GroupLabels.alertname }}'
footer: 'foot {{ .ExternalURL }}'
image_url: 'https://img.example/{{ .Status }}'
thumb_url: 'https://thumb.example/{{ .Status }}'
link_names: true
short_fields: true
mrkdwn_in: [text]
fields:
  - {title: 'Severity', value: '{{ .CommonLabels.severity }}'}
  - {title: 'Count', value: '{{ len .Alerts }}', short: false}
actions:
  - {type: button, text: 'Runbook {{ .GroupLabels.alertname }}', url: 'https://runbooks.example/{{ .GroupLabels.alertname }}', style: primary}
  - {type: button, text: 'Ack', name: ack, value: '{{ .GroupLabels.alertname }}', confirm: {title: 'Sure?', text: 'Ack {{ len .Alerts }}', ok_text: 'Yes', dismiss_text: 'No'}}
`, srv.URL+hookPath))
	n, logs := newNotifier(t, cfg)
	retryable, err := n.Notify(t.Context(), testNotification(diskFull("db-1", time.Time{}), diskFull("db-2", time.Time{})))
	if err != nil || retryable {
		t.Fatalf("Notify = %v, %v", retryable, err)
	}
	reqs := srv.requests()
	if len(reqs) != 1 || reqs[0].Path != hookPath {
		t.Fatalf("requests %+v", reqs)
	}
	got, _ := json.Marshal(reqs[0].JSON)
	want := `{
	  "channel": "#ops-page", "username": "klaxon-team", "icon_emoji": ":firing:", "icon_url": "https://icons.example/firing.png",
	  "link_names": true, "text": "msg first notification",
	  "attachments": [{
	    "blocks": null,
	    "title": "DiskFull (2)", "title_link": "https://grafana.example/DiskFull", "pretext": "pre firing",
	    "text": "Disk full on db-1;Disk full on db-2;", "fallback": "fb firing", "callback_id": "cb-DiskFull",
	    "footer": "foot http://klaxon.example", "color": "#ff0000", "image_url": "https://img.example/firing",
	    "thumb_url": "https://thumb.example/firing", "mrkdwn_in": ["text"],
	    "fields": [{"title": "Severity", "value": "page", "short": true}, {"title": "Count", "value": "2", "short": false}],
	    "actions": [
	      {"type": "button", "text": "Runbook DiskFull", "url": "https://runbooks.example/DiskFull", "style": "primary", "name": ""},
	      {"type": "button", "text": "Ack", "name": "ack", "value": "DiskFull",
	       "confirm": {"title": "Sure?", "text": "Ack 2", "ok_text": "Yes", "dismiss_text": "No"}}
	    ]
	  }]
	}`
	assertJSONEqual(t, got, want)
	assertNoSecret(t, "logs", logs.String())
}

// TestWebhookDefaults: with only api_url, the message has Alertmanager's
// title, link, fallback and (empty) text.
func TestWebhookDefaults(t *testing.T) {
	srv := newServer(t, nil)
	n, _ := newNotifier(t, slackConfig(t, fmt.Sprintf("api_url: %q", srv.URL+hookPath)))
	if _, err := n.Notify(t.Context(), testNotification(diskFull("db-1", time.Time{}), diskFull("db-2", t0.Add(-time.Minute)))); err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(srv.requests()[0].JSON)
	assertJSONEqual(t, got, `{
	  "username": "Klaxon",
	  "attachments": [{
	    "blocks": null,
	    "title": "[FIRING:1] DiskFull (page)",
	    "title_link": "http://klaxon.example/#/alerts?receiver=team",
	    "fallback": "[FIRING:1] DiskFull (page) | http://klaxon.example/#/alerts?receiver=team",
	    "color": "danger",
	    "mrkdwn_in": ["fallback", "pretext", "text"]
	  }]
	}`)
}

// TestWebhookFailures: Slack's answers and how each is classified; no
// answer, error or log line shows the webhook URL.
func TestWebhookFailures(t *testing.T) {
	echo := func(status int, body string, header ...string) func(http.ResponseWriter, request, int) {
		return func(w http.ResponseWriter, r request, _ int) {
			for i := 0; i+1 < len(header); i += 2 {
				w.Header().Set(header[i], header[i+1])
			}
			w.WriteHeader(status)
			fmt.Fprint(w, strings.ReplaceAll(body, "PATH", r.Path))
		}
	}
	for _, tt := range []struct {
		name      string
		answer    func(http.ResponseWriter, request, int)
		retryable bool
		reason    string
		delay     time.Duration
		contains  string
	}{
		{"400 invalid_payload", echo(400, "invalid_payload at PATH"), false, notification.ReasonClientError, 0, "invalid_payload"},
		{"403 channel_is_archived", echo(403, "channel_is_archived"), false, notification.ReasonClientError, 0, "403: channel_is_archived"},
		{"404 no_service", echo(404, "no_service"), false, notification.ReasonClientError, 0, "404"},
		{"429 with seconds", echo(429, "rate limited", "Retry-After", "7"), true, notification.ReasonRateLimited, 7 * time.Second, "429"},
		{"429 with a date", echo(429, "", "Retry-After", t0.Add(90*time.Second).Format(http.TimeFormat)), true, notification.ReasonRateLimited, 90 * time.Second, "429"},
		{"429 without Retry-After", echo(429, ""), true, notification.ReasonRateLimited, 0, "429"},
		{"500", echo(500, "oops PATH"), true, notification.ReasonServerError, 0, "500"},
		{"503", echo(503, ""), true, notification.ReasonServerError, 0, "503"},
		{"200 but not ok", echo(200, "invalid_token for PATH"), false, notification.ReasonClientError, 0, "slack refused the message: invalid_token"},
		{"200 JSON ok:false", func(w http.ResponseWriter, _ request, _ int) {
			jsonAnswer(w, map[string]any{"ok": false, "error": "channel_not_found"})
		}, false, notification.ReasonClientError, 0, "channel_not_found"},
		{"200 JSON transient", func(w http.ResponseWriter, _ request, _ int) {
			jsonAnswer(w, map[string]any{"ok": false, "error": "internal_error"})
		}, true, notification.ReasonServerError, 0, "internal_error"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, tt.answer)
			n, logs := newNotifier(t, slackConfig(t, fmt.Sprintf("api_url: %q", srv.URL+hookPath)))
			retryable, err := n.Notify(t.Context(), testNotification(diskFull("db-1", time.Time{})))
			if err == nil {
				t.Fatal("no error")
			}
			if retryable != tt.retryable {
				t.Errorf("retryable = %v, want %v (%v)", retryable, tt.retryable, err)
			}
			if r, _ := notification.FailureReason(err); r != tt.reason {
				t.Errorf("reason = %q, want %q", r, tt.reason)
			}
			if d, ok := fault.RetryDelay(err); d != tt.delay || ok != (tt.delay != 0) {
				t.Errorf("RetryDelay = %v %v, want %v", d, ok, tt.delay)
			}
			if !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("error %q does not name %q", err, tt.contains)
			}
			assertNoSecret(t, "error", fmt.Sprintf("%v %+v %#v", err, err, err))
			assertNoSecret(t, "logs", logs.String())
		})
	}
}

func TestWebhookTimeoutAndNetwork(t *testing.T) {
	release := make(chan struct{})
	hang := newServer(t, func(w http.ResponseWriter, _ request, _ int) { <-release })
	defer close(release)
	n, logs := newNotifier(t, slackConfig(t, fmt.Sprintf("api_url: %q\ntimeout: 50ms", hang.URL+hookPath)))
	retryable, err := n.Notify(t.Context(), testNotification(diskFull("db-1", time.Time{})))
	if !retryable || err == nil || !strings.Contains(err.Error(), "slack timeout of 50ms reached") {
		t.Fatalf("hanging receiver: %v, %v", retryable, err)
	}
	if r, _ := notification.FailureReason(err); r != notification.ReasonTimeout {
		t.Errorf("reason = %q", r)
	}
	assertNoSecret(t, "timeout error", err.Error())

	closed := newServer(t, nil)
	closed.Close()
	n, logs2 := newNotifier(t, slackConfig(t, fmt.Sprintf("api_url: %q", closed.URL+hookPath)))
	retryable, err = n.Notify(t.Context(), testNotification(diskFull("db-1", time.Time{})))
	if !retryable || err == nil {
		t.Fatalf("refused connection: %v, %v", retryable, err)
	}
	var ue *url.Error
	if !errors.As(err, &ue) {
		t.Errorf("no url.Error in the chain: %v", err)
	} else {
		assertNoSecret(t, "url.Error", ue.Error())
	}
	assertNoSecret(t, "network error", err.Error())
	assertNoSecret(t, "logs", logs.String()+logs2.String())
}

// TestAPIURLFile: the URL is read at each send, so a rotated file takes
// effect; an unreadable file is retried and names the file, not its content.
func TestAPIURLFile(t *testing.T) {
	srv := newServer(t, nil)
	file := filepath.Join(t.TempDir(), "slack-url")
	n, _ := newNotifier(t, slackConfig(t, fmt.Sprintf("api_url_file: %q", file)))
	retryable, err := n.Notify(t.Context(), testNotification(diskFull("db-1", time.Time{})))
	if !retryable || !errors.Is(err, ErrAPIURLFile) || !strings.Contains(err.Error(), file) {
		t.Fatalf("missing file: %v, %v", retryable, err)
	}
	if err := os.WriteFile(file, []byte(srv.URL+hookPath+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Notify(t.Context(), testNotification(diskFull("db-1", time.Time{}))); err != nil {
		t.Fatal(err)
	}
	if reqs := srv.requests(); len(reqs) != 1 || reqs[0].Path != hookPath {
		t.Fatalf("requests %+v", reqs)
	}
	if err := os.WriteFile(file, []byte("not a url "+hookPath), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = n.Notify(t.Context(), testNotification(diskFull("db-1", time.Time{})))
	if !errors.Is(err, ErrAPIURLFile) {
		t.Fatalf("bad content: %v", err)
	}
	assertNoSecret(t, "error", err.Error())
}

// botServer answers chat.postMessage and chat.update like the Web API, ts
// counting up; update answers with the error of updateErr when set.
func botServer(t *testing.T, updateErr string) *server {
	return newServer(t, func(w http.ResponseWriter, r request, i int) {
		if r.Form.Get("token") != botToken {
			jsonAnswer(w, map[string]any{"ok": false, "error": "invalid_auth"})
			return
		}
		switch r.Path {
		case "/api/chat.postMessage":
			jsonAnswer(w, map[string]any{"ok": true, "channel": "C0123", "ts": fmt.Sprintf("1700000000.%06d", i)})
		case "/api/chat.update":
			if updateErr != "" {
				jsonAnswer(w, map[string]any{"ok": false, "error": updateErr})
				return
			}
			jsonAnswer(w, map[string]any{"ok": true, "channel": r.Form.Get("channel"), "ts": r.Form.Get("ts")})
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	})
}

// TestBotToken: with app_token the message goes to chat.postMessage through
// slack-go, the token in the form; with update_message the next
// notification edits it with chat.update.
func TestBotToken(t *testing.T) {
	srv := botServer(t, "")
	cfg := slackConfig(t, fmt.Sprintf(`
app_token: %q
app_url: %q
channel: '#ops'
username: klaxon
icon_emoji: ':fire:'
link_names: true
message_text: 'hello {{ .Status }}'
update_message: true
`, botToken, srv.URL+"/api/chat.postMessage"))
	n, logs := newNotifier(t, cfg)
	nt := testNotification(diskFull("db-1", time.Time{}))
	sent, retryable, err := n.NotifyMessage(t.Context(), nt)
	if err != nil || retryable {
		t.Fatalf("post: %v %v", retryable, err)
	}
	if sent == nil || sent.Channel != "C0123" || sent.ID != "1700000000.000000" {
		t.Fatalf("sent = %+v", sent)
	}
	reqs := srv.requests()
	f := reqs[0].Form
	if reqs[0].Path != "/api/chat.postMessage" || f.Get("channel") != "#ops" || f.Get("username") != "klaxon" ||
		f.Get("icon_emoji") != ":fire:" || f.Get("link_names") != "true" || f.Get("text") != "hello firing" {
		t.Fatalf("postMessage request %+v", reqs[0])
	}
	if reqs[0].Auth != "" {
		t.Errorf("token sent twice (Authorization %q)", reqs[0].Auth)
	}
	var atts []map[string]any
	if err := json.Unmarshal([]byte(f.Get("attachments")), &atts); err != nil || len(atts) != 1 || atts[0]["title"] != "[FIRING:1] DiskFull (db-1 page)" {
		t.Fatalf("attachments %s (%v)", f.Get("attachments"), err)
	}

	// The next notification of the group edits the message.
	nt2 := testNotification(diskFull("db-1", t0))
	nt2.Message = sent
	sent2, _, err := n.NotifyMessage(t.Context(), nt2)
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	reqs = srv.requests()
	if len(reqs) != 2 || reqs[1].Path != "/api/chat.update" || reqs[1].Form.Get("channel") != "C0123" || reqs[1].Form.Get("ts") != sent.ID {
		t.Fatalf("update request %+v", reqs[len(reqs)-1])
	}
	if *sent2 != *sent {
		t.Errorf("updated message %+v, want %+v", sent2, sent)
	}
	assertNoSecret(t, "logs", logs.String())
}

// TestBotUpdateGone: a message Slack no longer has is replaced by a new one.
func TestBotUpdateGone(t *testing.T) {
	srv := botServer(t, "message_not_found")
	n, _ := newNotifier(t, slackConfig(t, fmt.Sprintf("app_token: %q\napp_url: %q\nchannel: '#ops'\nupdate_message: true",
		botToken, srv.URL+"/api/chat.postMessage")))
	nt := testNotification(diskFull("db-1", time.Time{}))
	nt.Message = &notification.Message{Channel: "C0123", ID: "1600000000.000001"}
	sent, _, err := n.NotifyMessage(t.Context(), nt)
	if err != nil {
		t.Fatal(err)
	}
	reqs := srv.requests()
	if len(reqs) != 2 || reqs[0].Path != "/api/chat.update" || reqs[1].Path != "/api/chat.postMessage" || reqs[1].Form.Get("channel") != "#ops" {
		t.Fatalf("requests %+v", reqs)
	}
	if sent.ID != "1700000000.000001" {
		t.Errorf("sent %+v", sent)
	}
	// Without update_message nothing is returned to remember, and a
	// recorded message is not edited.
	n, _ = newNotifier(t, slackConfig(t, fmt.Sprintf("app_token: %q\napp_url: %q\nchannel: '#ops'", botToken, srv.URL+"/api/chat.postMessage")))
	if sent, _, err := n.NotifyMessage(t.Context(), nt); err != nil || sent != nil {
		t.Fatalf("without update_message: %+v, %v", sent, err)
	}
	if reqs := srv.requests(); reqs[len(reqs)-1].Path != "/api/chat.postMessage" {
		t.Fatalf("edited without update_message")
	}
}

func TestBotFailures(t *testing.T) {
	for _, tt := range []struct {
		name      string
		answer    func(http.ResponseWriter, request, int)
		retryable bool
		reason    string
		delay     time.Duration
		contains  string
	}{
		{"ok:false is final and named", func(w http.ResponseWriter, r request, _ int) {
			jsonAnswer(w, map[string]any{"ok": false, "error": "not_in_channel"})
		}, false, notification.ReasonClientError, 0, "slack refused the message: not_in_channel"},
		{"ok:false echoing the token", func(w http.ResponseWriter, r request, _ int) {
			jsonAnswer(w, map[string]any{"ok": false, "error": "invalid_auth " + r.Form.Get("token")})
		}, false, notification.ReasonClientError, 0, "invalid_auth"},
		{"transient error is retried", func(w http.ResponseWriter, r request, _ int) {
			jsonAnswer(w, map[string]any{"ok": false, "error": "service_unavailable"})
		}, true, notification.ReasonServerError, 0, "service_unavailable"},
		{"429 with Retry-After", func(w http.ResponseWriter, _ request, _ int) {
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(http.StatusTooManyRequests)
		}, true, notification.ReasonRateLimited, 30 * time.Second, "rate limit"},
		{"500", func(w http.ResponseWriter, _ request, _ int) { w.WriteHeader(500) }, true, notification.ReasonServerError, 0, "500"},
		{"403", func(w http.ResponseWriter, _ request, _ int) { w.WriteHeader(403) }, false, notification.ReasonClientError, 0, "403"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, tt.answer)
			n, logs := newNotifier(t, slackConfig(t, fmt.Sprintf("app_token: %q\napp_url: %q\nchannel: '#ops'", botToken, srv.URL+"/api/chat.postMessage")))
			retryable, err := n.Notify(t.Context(), testNotification(diskFull("db-1", time.Time{})))
			if err == nil {
				t.Fatal("no error")
			}
			if retryable != tt.retryable {
				t.Errorf("retryable = %v, want %v (%v)", retryable, tt.retryable, err)
			}
			if r, _ := notification.FailureReason(err); r != tt.reason {
				t.Errorf("reason = %q, want %q", r, tt.reason)
			}
			if d, ok := fault.RetryDelay(err); d != tt.delay || ok != (tt.delay != 0) {
				t.Errorf("RetryDelay = %v %v, want %v", d, ok, tt.delay)
			}
			if !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("error %q does not name %q", err, tt.contains)
			}
			assertNoSecret(t, "error", fmt.Sprintf("%v %+v", err, err))
			assertNoSecret(t, "logs", logs.String())
		})
	}
}

// TestBotTokenFile: the token is read at each send.
func TestBotTokenFile(t *testing.T) {
	srv := botServer(t, "")
	file := filepath.Join(t.TempDir(), "token")
	n, _ := newNotifier(t, slackConfig(t, fmt.Sprintf("app_token_file: %q\napp_url: %q\nchannel: '#ops'", file, srv.URL+"/api/chat.postMessage")))
	if _, err := n.Notify(t.Context(), testNotification(diskFull("db-1", time.Time{}))); !errors.Is(err, ErrTokenFile) {
		t.Fatalf("missing token file: %v", err)
	}
	if err := os.WriteFile(file, []byte(botToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Notify(t.Context(), testNotification(diskFull("db-1", time.Time{}))); err != nil {
		t.Fatal(err)
	}
}

// TestUpdateViaAPIURL: Alertmanager's older set-up (api_url is the Web
// API's chat.postMessage, the token a bearer authorization) also edits
// messages, with JSON.
func TestUpdateViaAPIURL(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r request, i int) {
		if r.Auth != "Bearer "+botToken {
			jsonAnswer(w, map[string]any{"ok": false, "error": "not_authed"})
			return
		}
		jsonAnswer(w, map[string]any{"ok": true, "channel": "C9", "ts": "1.5"})
	})
	n, logs := newNotifier(t, slackConfig(t, fmt.Sprintf(`
api_url: %q
http_config: {authorization: {credentials: %q}}
channel: '#ops'
update_message: true`, srv.URL+"/api/chat.postMessage", botToken)))
	sent, _, err := n.NotifyMessage(t.Context(), testNotification(diskFull("db-1", time.Time{})))
	if err != nil || sent == nil || sent.ID != "1.5" {
		t.Fatalf("post: %+v %v", sent, err)
	}
	nt := testNotification(diskFull("db-1", t0))
	nt.Message = sent
	if _, _, err := n.NotifyMessage(t.Context(), nt); err != nil {
		t.Fatal(err)
	}
	reqs := srv.requests()
	if reqs[1].Path != "/api/chat.update" || reqs[1].JSON["ts"] != "1.5" || reqs[1].JSON["channel"] != "C9" {
		t.Fatalf("update %+v", reqs[1])
	}
	assertNoSecret(t, "logs", logs.String())

	// An incoming webhook cannot edit messages: the config is refused at
	// load, as Alertmanager refuses it.
	_, err = config.Parse([]byte("route: {receiver: team}\nreceivers:\n  - name: team\n    slack_configs:\n      - api_url: https://hooks.slack.example/services/x\n        update_message: true\n"), "")
	if err == nil || !strings.Contains(err.Error(), "update_message needs an app token") {
		t.Errorf("update_message with a webhook: %v", err)
	}
}

// TestTemplateErrorIsFinal: a template that fails at send time (Check was
// not run) is a final failure, and nothing is sent.
func TestTemplateErrorIsFinal(t *testing.T) {
	srv := newServer(t, nil)
	n, _ := newNotifier(t, slackConfig(t, fmt.Sprintf("api_url: %q\ntitle: '{{ template \"nope\" . }}'", srv.URL+hookPath)))
	retryable, err := n.Notify(t.Context(), testNotification(diskFull("db-1", time.Time{})))
	if retryable || err == nil || !strings.Contains(err.Error(), "template title") {
		t.Fatalf("Notify = %v, %v", retryable, err)
	}
	if r, _ := notification.FailureReason(err); r != notification.ReasonTemplate {
		t.Errorf("reason %q", r)
	}
	if len(srv.requests()) != 0 {
		t.Error("sent despite the template error")
	}
}

func TestTitleTruncated(t *testing.T) {
	srv := newServer(t, nil)
	n, _ := newNotifier(t, slackConfig(t, fmt.Sprintf("api_url: %q\ntitle: '{{ range $i := stringSlice %s }}ééééééééé{{ end }}'",
		srv.URL+hookPath, strings.Repeat(`"x" `, 200))))
	if _, err := n.Notify(t.Context(), testNotification(diskFull("db-1", time.Time{}))); err != nil {
		t.Fatal(err)
	}
	title := srv.requests()[0].JSON["attachments"].([]any)[0].(map[string]any)["title"].(string)
	if n := len([]rune(title)); n != maxTitleRunes || !strings.HasSuffix(title, "…") {
		t.Errorf("title has %d runes: %q", n, title[len(title)-10:])
	}
}

func assertJSONEqual(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("not JSON: %v: %s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation: %v", err)
	}
	gb, _ := json.MarshalIndent(g, "", "  ")
	wb, _ := json.MarshalIndent(w, "", "  ")
	if !bytes.Equal(gb, wb) {
		t.Fatalf("payload:\n%s\nwant:\n%s", gb, wb)
	}
}

// TestExampleConfig: the README's Slack example (configs/examples/slack.yml)
// sends, its secrets' files pointed at test servers.
func TestExampleConfig(t *testing.T) {
	cfg, err := config.Load(filepath.Join("..", "..", "..", "configs", "examples", "slack.yml"))
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := template.FromConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hook := newServer(t, nil)
	bot := botServer(t, "")
	dir := t.TempDir()
	team := cfg.Receiver("team-channel").SlackConfigs[0]
	team.APIURLFile = filepath.Join(dir, "url")
	incidents := cfg.Receiver("incidents").SlackConfigs[0]
	incidents.AppTokenFile = filepath.Join(dir, "token")
	u, _ := url.Parse(bot.URL + "/api/chat.postMessage")
	incidents.AppURL.URL = u
	for file, content := range map[string]string{team.APIURLFile: hook.URL + hookPath, incidents.AppTokenFile: botToken} {
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []*config.SlackConfig{team, incidents} {
		n, err := New(c, tmpl, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.Notify(t.Context(), testNotification(diskFull("db-1", time.Time{}))); err != nil {
			t.Fatal(err)
		}
	}
	if title := hook.requests()[0].JSON["attachments"].([]any)[0].(map[string]any)["title"]; title != "[FIRING:1] DiskFull (page)" {
		t.Errorf("team-channel title %q", title)
	}
	if f := bot.requests()[0].Form; f.Get("channel") != "#incidents" || !strings.Contains(f.Get("attachments"), `"title":"Severity","value":"page","short":true`) {
		t.Errorf("incidents request %v", f)
	}
}

// FuzzClassify: any answer is classified without panic, and a secret the
// answer echoes never reaches the error.
func FuzzClassify(f *testing.F) {
	f.Add(200, "text/plain", "ok")
	f.Add(200, "application/json", `{"ok":false,"error":"channel_not_found"}`)
	f.Add(200, "application/json; charset=utf-8", `{"ok":true,"ts":"1.2","channel":"C1"}`)
	f.Add(429, "text/plain", "slow down "+hookPath)
	f.Add(503, "text/html", "<html>")
	f.Add(500, "text/plain", strings.Repeat("x", 230))
	n := &Notifier{now: func() time.Time { return t0 }}
	u, _ := url.Parse("https://hooks.slack.example" + hookPath)
	secrets := secret.URL(u)
	f.Fuzz(func(t *testing.T, code int, contentType, body string) {
		if code < 100 || code > 999 {
			return
		}
		resp := &http.Response{StatusCode: code, Header: http.Header{"Content-Type": {contentType}}}
		_, _, err := n.classifyHTTP(resp, []byte(body+hookPath), nil, secrets)
		if err == nil {
			return
		}
		// Not even a part of the token, wherever the answer is cut.
		const token = "s3cr3tW3bh00kT0k3n"
		for i := 0; i+6 <= len(token); i++ {
			if strings.Contains(err.Error(), token[i:i+6]) && !strings.Contains(body, token[i:i+6]) {
				t.Fatalf("error leaks part of the path: %v", err)
			}
		}
	})
}
