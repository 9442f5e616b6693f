package wechat

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/logtest"
	nt "github.com/klaxon-alerts/klaxon/services/notifier/notifytest"
)

// The test's secrets: the application's secret and the tokens WeChat sells.
const apiSecret = "w3ch4tS3cr3t"

// weChat is an httptest WeChat: gettoken sells token<n> (expiring after
// expiresIn seconds) for the right corp id and secret; message/send
// answers sendAnswers in turn (then errcode 0) when the token is the last
// one sold.
type weChat struct {
	*nt.Server
	mu          sync.Mutex
	sold        int
	expiresIn   int
	sendAnswers []string
}

func newWeChat(t *testing.T, sendAnswers ...string) *weChat {
	w := &weChat{expiresIn: 7200, sendAnswers: sendAnswers}
	w.Server = nt.NewServer(t, func(rw http.ResponseWriter, r nt.Request, _ int) {
		q, _ := url.ParseQuery(r.Query)
		w.mu.Lock()
		defer w.mu.Unlock()
		switch r.Path {
		case "/cgi-bin/gettoken":
			if r.Method != http.MethodGet || q.Get("corpid") != "c0rp" || q.Get("corpsecret") != apiSecret {
				_, _ = io.WriteString(rw, `{"errcode":40001,"errmsg":"invalid credential"}`)
				return
			}
			w.sold++
			fmt.Fprintf(rw, `{"errcode":0,"errmsg":"ok","access_token":"t0k3n-%d","expires_in":%d}`, w.sold, w.expiresIn)
		case "/cgi-bin/message/send":
			if q.Get("access_token") != fmt.Sprintf("t0k3n-%d", w.sold) {
				_, _ = io.WriteString(rw, `{"errcode":40014,"errmsg":"invalid access_token"}`)
				return
			}
			if len(w.sendAnswers) > 0 {
				_, _ = io.WriteString(rw, w.sendAnswers[0])
				w.sendAnswers = w.sendAnswers[1:]
				return
			}
			_, _ = io.WriteString(rw, `{"errcode":0,"errmsg":"ok"}`)
		default:
			rw.WriteHeader(http.StatusNotFound)
		}
	})
	return w
}

func (w *weChat) paths() []string {
	var ps []string
	for _, r := range w.Requests() {
		ps = append(ps, strings.TrimPrefix(r.Path, "/cgi-bin/"))
	}
	return ps
}

func newNotifier(t *testing.T, srv *weChat, receiverYAML string) (*Notifier, *logtest.Buffer) {
	t.Helper()
	global := fmt.Sprintf("  wechat_api_url: %s/cgi-bin\n  wechat_api_secret: %s\n  wechat_api_corp_id: c0rp", srv.URL, apiSecret)
	return nt.Build(t, global, receiverYAML, func(r *config.Receiver) *config.WeChatConfig { return r.WeChatConfigs[0] }, New)
}

// A text message to the configured recipients with the token gettoken
// sold; the second notification reuses the token.
func TestTextMessageAndTokenReuse(t *testing.T) {
	srv := newWeChat(t)
	n, _ := newNotifier(t, srv, `    wechat_configs:
      - to_user: '@all'
        to_party: '{{ .CommonLabels.severity }}'
        agent_id: '1000002'`)
	for range 2 {
		if _, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", false))); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(srv.paths(), " "); got != "gettoken message/send message/send" {
		t.Errorf("requests: %s", got)
	}
	nt.Golden(t, "text.json", srv.Requests()[1].Body)
}

// message_type markdown sends the message as markdown.
func TestMarkdown(t *testing.T) {
	srv := newWeChat(t)
	n, _ := newNotifier(t, srv, "    wechat_configs: [{to_tag: ops, message_type: markdown, message: '**{{ .CommonLabels.alertname }}**'}]")
	if _, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", false))); err != nil {
		t.Fatal(err)
	}
	body := srv.Requests()[1].JSON(t)
	if body["msgtype"] != "markdown" || body["markdown"].(map[string]any)["content"] != "**HighLatency**" || body["text"] != nil {
		t.Errorf("body %v", body)
	}
}

// A token is bought again once WeChat's expires_in has passed.
func TestTokenExpires(t *testing.T) {
	srv := newWeChat(t)
	srv.expiresIn = 600
	n, _ := newNotifier(t, srv, "    wechat_configs: [{to_user: '@all'}]")
	now := nt.T0
	n.now = func() time.Time { return now }
	notify := func() {
		t.Helper()
		if _, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", false))); err != nil {
			t.Fatal(err)
		}
	}
	notify()
	now = now.Add(8 * time.Minute)
	notify()
	now = now.Add(2 * time.Minute) // 10 minutes: expired
	notify()
	if got := strings.Join(srv.paths(), " "); got != "gettoken message/send message/send gettoken message/send" {
		t.Errorf("requests: %s", got)
	}
}

// errcode 42001 (token expired) drops the token and is retried: the next
// attempt buys a new one. Another errcode is final with WeChat's errmsg;
// the secret and the token are in no error or log line.
func TestErrcodes(t *testing.T) {
	srv := newWeChat(t, `{"errcode":42001,"errmsg":"access_token expired"}`, `{"errcode":81013,"errmsg":"user & party & tag all invalid"}`)
	n, logs := newNotifier(t, srv, "    wechat_configs: [{to_user: nobody}]")
	retryable, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", false)))
	if !retryable || err == nil || !strings.Contains(err.Error(), "errcode 42001: access_token expired") {
		t.Fatalf("expired token: retryable %v, err %v", retryable, err)
	}
	retryable, err = n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", false)))
	if retryable || err == nil || !strings.Contains(err.Error(), "errcode 81013: user & party & tag all invalid") {
		t.Fatalf("invalid user: retryable %v, err %v", retryable, err)
	}
	if got := strings.Join(srv.paths(), " "); got != "gettoken message/send gettoken message/send" {
		t.Errorf("requests: %s", got)
	}
	if text := err.Error() + logs.String(); strings.Contains(text, apiSecret) || strings.Contains(text, "t0k3n-") {
		t.Errorf("secret leaked: %s", text)
	}
}

// A wrong secret buys no token: final, naming the corp id and not the
// secret.
func TestWrongSecret(t *testing.T) {
	srv := newWeChat(t)
	n, _ := newNotifier(t, srv, "    wechat_configs: [{to_user: '@all', api_secret: wr0ng}]")
	retryable, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", false)))
	if retryable || err == nil || !strings.Contains(err.Error(), `corp id "c0rp"`) || !strings.Contains(err.Error(), "40001") || strings.Contains(err.Error(), "wr0ng") {
		t.Fatalf("retryable %v, err %v", retryable, err)
	}
}
