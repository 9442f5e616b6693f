package notifier

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/dlq"
	"github.com/klaxon-alerts/klaxon/services/notifier/nflogstore"
)

// slackPath is the secret path of the test's Slack incoming webhook.
const slackPath = "/services/T0/B0/sl4ckS3cr3tT0k3n"

// slackReceiver is an httptest Slack answering with scripted statuses (the
// last one repeats) and recording when each request came.
type slackReceiver struct {
	srv      *httptest.Server
	mu       sync.Mutex
	times    []time.Time
	bodies   []map[string]any
	forms    []url.Values
	paths    []string
	statuses []int
	header   http.Header
}

func newSlackReceiver(t *testing.T, statuses ...int) *slackReceiver {
	t.Helper()
	r := &slackReceiver{statuses: statuses, header: http.Header{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		i := len(r.times)
		r.times = append(r.times, time.Now())
		r.paths = append(r.paths, req.URL.Path)
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		r.bodies = append(r.bodies, m)
		form, _ := url.ParseQuery(string(body))
		r.forms = append(r.forms, form)
		status := http.StatusOK
		if len(r.statuses) > 0 {
			status = r.statuses[min(i, len(r.statuses)-1)]
		}
		for k, v := range r.header {
			w.Header()[k] = v
		}
		r.mu.Unlock()
		if strings.HasPrefix(req.URL.Path, "/api/") {
			w.Header().Set("Content-Type", "application/json")
			ts := fmt.Sprintf("1700000000.%06d", i)
			if req.URL.Path == "/api/chat.update" {
				ts = form.Get("ts")
			}
			fmt.Fprintf(w, `{"ok":true,"channel":"C42","ts":%q}`, ts)
			return
		}
		w.WriteHeader(status)
		if status == http.StatusOK {
			fmt.Fprint(w, "ok")
			return
		}
		fmt.Fprintf(w, "failed at %s", req.URL.Path) // echoes the secret path
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *slackReceiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.times)
}

// smtpSink is an in-process SMTP server (no TLS, no AUTH) counting the
// messages it accepts.
type smtpSink struct {
	addr string
	mu   sync.Mutex
	msgs []string
}

func newSMTPSink(t *testing.T) *smtpSink {
	t.Helper()
	sink := &smtpSink{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{sink: sink}, nil }))
	srv.Domain = "localhost"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sink.addr = l.Addr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		// Close does not know a listener Serve has not registered yet.
		_ = l.Close()
		<-done
	})
	return sink
}

func (s *smtpSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

type sinkSession struct{ sink *smtpSink }

func (s *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *sinkSession) Reset()                               {}
func (s *sinkSession) Logout() error                        { return nil }
func (s *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	s.sink.mu.Lock()
	s.sink.msgs = append(s.sink.msgs, string(b))
	s.sink.mu.Unlock()
	return err
}

// TestIntegrationsIndependent: one receiver with a webhook, an e-mail and a
// Slack integration; Slack is down. The webhook and the e-mail are each
// delivered once, not re-sent while Slack is retried; after the last
// attempt Slack's notification is dead-lettered with the error, and neither
// the dead letter nor the logs show Slack's URL.
func TestIntegrationsIndependent(t *testing.T) {
	hook := newReceiver(t)
	slack := newSlackReceiver(t, http.StatusServiceUnavailable)
	sink := newSMTPSink(t)
	s := startStageConfig(t, fmt.Sprintf(`
route: {receiver: team}
receivers:
  - name: team
    webhook_configs: [{url: %q}]
    email_configs: [{to: ops@example.com, from: klaxon@example.com, smarthost: %q, require_tls: false}]
    slack_configs: [{api_url: %q, channel: '#ops'}]
`, hook.url(), sink.addr, slack.srv.URL+slackPath))

	for _, typ := range []string{"slack", "webhook", "email"} {
		s.publishTo(t, contract.Integration{Receiver: "team", Type: typ}, 1, t0, firingAlert("a"))
	}
	dl := s.waitDeadLetter(t, 1)
	if dl.Subject != contract.NotifySubject("slack") || !strings.Contains(dl.Reason, "503") || !strings.Contains(dl.Reason, "team/slack[0]") {
		t.Fatalf("dead letter %+v", dl)
	}
	if strings.Contains(dl.Reason, "sl4ckS3cr3tT0k3n") || strings.Contains(s.logs.String(), "sl4ckS3cr3tT0k3n") {
		t.Fatalf("Slack's URL leaks: %s", dl.Reason)
	}
	if n := slack.count(); n != 5 {
		t.Errorf("Slack attempts = %d, want MaxDeliver (5)", n)
	}
	waitCalls(t, hook, 1)
	waitFor(t, "one e-mail", func() bool { return sink.count() >= 1 })
	s.waitCounter(t, 1, "klaxon_notifications_total", "integration", "email")
	s.waitCounter(t, 1, "klaxon_notifications_total", "integration", "webhook")
	s.waitCounter(t, 5, "klaxon_notifications_failed_total", "integration", "slack", "reason", "server_error")
	if sink.count() != 1 || len(hook.Calls()) != 1 {
		t.Fatalf("e-mails %d, webhooks %d: each integration must be sent once", sink.count(), len(hook.Calls()))
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if !strings.Contains(sink.msgs[0], "Subject: [FIRING:1] HighLatency") {
		t.Errorf("e-mail:\n%s", sink.msgs[0])
	}
}

// TestSlackRetryAfter: a 429 is retried no earlier than its Retry-After
// (Alertmanager gives up on it), then delivered once.
func TestSlackRetryAfter(t *testing.T) {
	slack := newSlackReceiver(t, http.StatusTooManyRequests, http.StatusOK)
	slack.header.Set("Retry-After", "1")
	s := startStageConfig(t, fmt.Sprintf(`
route: {receiver: team}
receivers:
  - name: team
    slack_configs: [{api_url: %q}]
`, slack.srv.URL+slackPath))
	s.publishTo(t, contract.Integration{Receiver: "team", Type: "slack"}, 1, t0, firingAlert("a"))
	s.waitCounter(t, 1, "klaxon_notifications_total", "integration", "slack")
	s.waitCounter(t, 1, "klaxon_notifications_failed_total", "integration", "slack", "reason", "rate_limited")
	slack.mu.Lock()
	defer slack.mu.Unlock()
	if len(slack.times) != 2 {
		t.Fatalf("%d attempts, want 2", len(slack.times))
	}
	if gap := slack.times[1].Sub(slack.times[0]); gap < 900*time.Millisecond {
		t.Errorf("retried after %v, before Retry-After (1s)", gap)
	}
}

// TestSlackUpdateMessage: with update_message, the group's later
// notifications edit its first message (its ts kept in the notification
// log); after the group was all resolved, a new sequence posts anew.
func TestSlackUpdateMessage(t *testing.T) {
	slack := newSlackReceiver(t)
	const token = "xoxb-st4ge-t0k3n"
	s := startStageConfig(t, fmt.Sprintf(`
route: {receiver: team}
receivers:
  - name: team
    slack_configs:
      - app_token: %q
        app_url: %q
        channel: '#ops'
        send_resolved: true
        update_message: true
`, token, slack.srv.URL+"/api/chat.postMessage"))
	in := contract.Integration{Receiver: "team", Type: "slack"}
	paths := func() string {
		slack.mu.Lock()
		defer slack.mu.Unlock()
		return strings.Join(slack.paths, " ")
	}

	s.publishTo(t, in, 1, t0, firingAlert("a"))
	s.waitCounter(t, 1, "klaxon_notifications_total", "integration", "slack")
	s.publishTo(t, in, 2, t0.Add(time.Minute), firingAlert("a"), firingAlert("b"))
	s.waitCounter(t, 2, "klaxon_notifications_total", "integration", "slack")
	s.publishTo(t, in, 3, t0.Add(2*time.Minute), alertAt("a", t0.Add(90*time.Second)), alertAt("b", t0.Add(90*time.Second)))
	s.waitCounter(t, 3, "klaxon_notifications_total", "integration", "slack")
	s.publishTo(t, in, 4, t0.Add(3*time.Minute), firingAlert("a"))
	s.waitCounter(t, 4, "klaxon_notifications_total", "integration", "slack")

	if got, want := paths(), "/api/chat.postMessage /api/chat.update /api/chat.update /api/chat.postMessage"; got != want {
		t.Fatalf("requests %s, want %s", got, want)
	}
	slack.mu.Lock()
	for i := 1; i <= 2; i++ {
		if f := slack.forms[i]; f.Get("ts") != "1700000000.000000" || f.Get("channel") != "C42" {
			t.Errorf("update %d: ts %q channel %q", i, f.Get("ts"), f.Get("channel"))
		}
	}
	slack.mu.Unlock()

	kv, err := s.js.KeyValue(t.Context(), contract.BucketNflog)
	if err != nil {
		t.Fatal(err)
	}
	e, _, err := nflogstore.New(kv, nil).Get(context.Background(), nflogstore.Key(groupKey, in))
	if err != nil || e.Message == nil || e.Message.ID != "1700000000.000003" || e.Message.Channel != "C42" {
		t.Fatalf("log entry %+v, %v: want the new sequence's message", e, err)
	}
	if strings.Contains(s.logs.String(), token) {
		t.Error("logs leak the token")
	}
}

// TestRedriveDeadLetter: a notification dead-lettered by a refusing
// receiver is delivered once the operator fixed the receiver and redrove
// it (klaxon dlq redrive).
func TestRedriveDeadLetter(t *testing.T) {
	r := newReceiver(t, http.StatusBadRequest, http.StatusOK)
	s := startStage(t, r.url(), true)
	s.publish(t, "team", 1, t0, firingAlert("a"))
	s.waitDeadLetter(t, 1)
	waitCalls(t, r, 1)

	q := dlq.New(s.js)
	letters, err := q.List(t.Context(), contract.StageNotifier)
	if err != nil || len(letters) != 1 {
		t.Fatalf("dead letters %+v, %v", letters, err)
	}
	if _, err := q.Redrive(t.Context(), letters[0].Seq); err != nil {
		t.Fatal(err)
	}
	calls := waitCalls(t, r, 2)
	wantCall(t, calls[1], "firing", "first notification", "a:firing")
	s.waitCounter(t, 1, "klaxon_notifications_total", "integration", "webhook")
	if left, _ := q.List(t.Context(), ""); len(left) != 0 {
		t.Errorf("dead letters left: %+v", left)
	}
}
