// Package notifytest is what the tests of the notifier's HTTP integrations
// share: a recording vendor server (httptest) with scripted answers,
// golden request bodies under testdata/, an integration's configuration
// parsed from a receiver's YAML, and a typical notification.
package notifytest

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/logtest"
	"github.com/klaxon-alerts/klaxon/services/notifier/notification"
	"github.com/klaxon-alerts/klaxon/services/notifier/template"
)

var update = flag.Bool("update", false, "rewrite the golden request bodies under testdata/")

// T0 is the flush time of Notification.
var T0 = time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)

// GroupKey is the group key of Notification.
const GroupKey = `{}:{alertname="HighLatency"}`

// Request is one request a Server saw.
type Request struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   []byte
}

// Answer writes a scripted answer to the i-th request (from 0).
type Answer func(w http.ResponseWriter, r Request, i int)

// Server is an httptest vendor API that records every request.
type Server struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []Request
	answer Answer
}

// NewServer starts a server answering with answer (nil: 200 with "{}").
func NewServer(t *testing.T, answer Answer) *Server {
	t.Helper()
	s := &Server{answer: answer}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r := Request{Method: req.Method, Path: req.URL.Path, Query: req.URL.RawQuery, Header: req.Header.Clone(), Body: body}
		s.mu.Lock()
		s.reqs = append(s.reqs, r)
		i := len(s.reqs) - 1
		s.mu.Unlock()
		if s.answer == nil {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, "{}")
			return
		}
		s.answer(w, r, i)
	}))
	t.Cleanup(s.Close)
	return s
}

// Requests returns the requests seen so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// Only returns the one request seen, failing the test if there were not
// exactly one.
func (s *Server) Only(t *testing.T) Request {
	t.Helper()
	reqs := s.Requests()
	if len(reqs) != 1 {
		t.Fatalf("server saw %d requests, want 1", len(reqs))
	}
	return reqs[0]
}

// Status answers every request with code and body.
func Status(code int, body string) Answer {
	return func(w http.ResponseWriter, _ Request, _ int) {
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}
}

// JSON decodes a request's body, failing the test when it is not JSON.
func (r Request) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, r.Body)
	}
	return m
}

// Golden compares a JSON body with testdata/name (indented, keys sorted);
// with -update it rewrites the file.
func Golden(t *testing.T, name string, body []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, body)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // readable goldens; the values compared are the same
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	got := buf.Bytes()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("missing %s (run the test with -update to create it): %v", path, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("request body differs from %s:\n%s", path, got)
	}
}

// Config parses a configuration whose root receiver "r" is receiverYAML
// (the lines under "- name: r", indented by four spaces), with globalYAML
// as the global section (may be ""), and returns the receiver and the
// templates.
func Config(t *testing.T, globalYAML, receiverYAML string) (*config.Receiver, *template.Template) {
	t.Helper()
	yml := "route: {receiver: r}\n"
	if globalYAML != "" {
		yml += "global:\n" + globalYAML + "\n"
	}
	yml += "receivers:\n  - name: r\n" + receiverYAML + "\n"
	cfg, err := config.Parse([]byte(yml), "")
	if err != nil {
		t.Fatalf("config:\n%s\n%v", yml, err)
	}
	tmpl, err := template.FromConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Receiver("r"), tmpl
}

// Build builds an integration's notifier with build from the configuration
// pick chooses in the receiver of receiverYAML (see Config), logging at
// debug level into the returned buffer.
func Build[C, N any](t *testing.T, globalYAML, receiverYAML string, pick func(*config.Receiver) C,
	build func(C, *template.Template, *slog.Logger) (N, error)) (N, *logtest.Buffer) {
	t.Helper()
	r, tmpl := Config(t, globalYAML, receiverYAML)
	logger, logs := logtest.New()
	n, err := build(pick(r), tmpl, logger)
	if err != nil {
		t.Fatal(err)
	}
	return n, logs
}

// Alert returns an alert of the group: firing at T0 when resolved is false,
// else resolved a minute before T0.
func Alert(instance string, resolved bool) alert.Alert {
	a := alert.Alert{
		Labels: model.LabelSet{"alertname": "HighLatency", "instance": model.LabelValue(instance), "severity": "critical"},
		Annotations: model.LabelSet{
			"summary": model.LabelValue("Latency is high on " + instance),
		},
		StartsAt:     T0.Add(-time.Hour),
		GeneratorURL: "http://prometheus.example/graph?g0.expr=latency",
	}
	if resolved {
		a.EndsAt = T0.Add(-time.Minute)
	}
	return a
}

// Notification returns the notification of receiver "r" for alerts, flushed
// at T0.
func Notification(alerts ...alert.Alert) *notification.Notification {
	return &notification.Notification{
		Receiver:    "r",
		GroupKey:    GroupKey,
		GroupLabels: model.LabelSet{"alertname": "HighLatency"},
		Alerts:      alerts,
		At:          T0,
		Reason:      "first notification",
		ExternalURL: "http://klaxon.example",
	}
}
