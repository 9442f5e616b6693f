package webhook

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
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

	"github.com/klaxon-alerts/klaxon/pkg/logtest"

	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/fault"
	"github.com/klaxon-alerts/klaxon/services/notifier/notification"
	"github.com/klaxon-alerts/klaxon/services/notifier/secret"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// Secrets put in webhook URLs by the tests; none may ever show.
const (
	secretPath  = "s3cr3t-path-token"
	secretQuery = "hunter2-query-key"
	secretPass  = "pa55w0rd-userinfo"
)

// secretURL is the server's URL with a secret path, query and password.
func secretURL(t *testing.T, base string) *url.URL {
	t.Helper()
	u, err := url.Parse(base + "/hooks/" + secretPath + "?key=" + secretQuery)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("klaxon", secretPass)
	return u
}

func assertNoSecret(t *testing.T, what, text string) {
	t.Helper()
	for _, s := range []string{secretPath, secretQuery, secretPass} {
		if strings.Contains(text, s) {
			t.Errorf("%s leaks secret %q: %s", what, s, text)
		}
	}
}

func newNotifier(t *testing.T, cfg *config.WebhookConfig) (*Notifier, *logtest.Buffer) {
	t.Helper()
	logger, buf := logtest.New()
	n, err := New(cfg, logger)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return n, buf
}

func testNotification(alerts ...alert.Alert) *notification.Notification {
	return &notification.Notification{
		Receiver:    "team-db",
		GroupKey:    `{}/{team="db"}:{alertname="HighLatency"}`,
		GroupLabels: model.LabelSet{"alertname": "HighLatency"},
		Alerts:      alerts,
		At:          t0,
		Reason:      "first notification",
		ExternalURL: "http://klaxon.example:9093",
	}
}

func testAlert(instance string, endsAt time.Time) alert.Alert {
	return alert.Alert{
		Labels:       model.LabelSet{"alertname": "HighLatency", "team": "db", "instance": model.LabelValue(instance)},
		Annotations:  model.LabelSet{"summary": "latency is high"},
		StartsAt:     t0.Add(-time.Hour),
		EndsAt:       endsAt,
		GeneratorURL: "http://prometheus.example/graph",
	}
}

// received is one request the test server saw.
type received struct {
	header http.Header
	path   string
	body   []byte
}

// recorder is an httptest server answering with the given statuses in turn
// (the last one repeated) and recording requests.
func recorder(t *testing.T, statuses ...int) (*httptest.Server, func() []received) {
	t.Helper()
	var (
		mu   sync.Mutex
		reqs []received
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs = append(reqs, received{header: r.Header.Clone(), path: r.URL.RequestURI(), body: body})
		i := min(len(reqs), len(statuses)) - 1
		mu.Unlock()
		if len(statuses) > 0 {
			w.WriteHeader(statuses[i])
		}
	}))
	t.Cleanup(srv.Close)
	return srv, func() []received {
		mu.Lock()
		defer mu.Unlock()
		return append([]received(nil), reqs...)
	}
}

func TestPayload(t *testing.T) {
	srv, reqs := recorder(t, http.StatusOK)
	u, _ := url.Parse(srv.URL + "/hook")
	n, _ := newNotifier(t, &config.WebhookConfig{URL: &config.SecretURL{URL: u}})

	firing := testAlert("a", time.Time{})
	resolved := testAlert("b", t0.Add(-time.Minute))
	retryable, err := n.Notify(t.Context(), testNotification(firing, resolved))
	if err != nil || retryable {
		t.Fatalf("Notify = %v, %v", retryable, err)
	}
	got := reqs()
	if len(got) != 1 {
		t.Fatalf("%d requests", len(got))
	}
	r := got[0]
	if r.path != "/hook" || r.header.Get("Content-Type") != "application/json" || !strings.HasPrefix(r.header.Get("User-Agent"), "Klaxon") {
		t.Errorf("request path %q headers %v", r.path, r.header)
	}
	want := fmt.Sprintf(`{
	  "receiver": "team-db",
	  "status": "firing",
	  "alerts": [
	    {"status": "firing", "labels": {"alertname": "HighLatency", "instance": "a", "team": "db"},
	     "annotations": {"summary": "latency is high"}, "startsAt": "2026-01-02T02:04:05Z",
	     "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus.example/graph", "fingerprint": %q},
	    {"status": "resolved", "labels": {"alertname": "HighLatency", "instance": "b", "team": "db"},
	     "annotations": {"summary": "latency is high"}, "startsAt": "2026-01-02T02:04:05Z",
	     "endsAt": "2026-01-02T03:03:05Z", "generatorURL": "http://prometheus.example/graph", "fingerprint": %q}
	  ],
	  "notification_reason": "first notification",
	  "groupLabels": {"alertname": "HighLatency"},
	  "commonLabels": {"alertname": "HighLatency", "team": "db"},
	  "commonAnnotations": {"summary": "latency is high"},
	  "externalURL": "http://klaxon.example:9093",
	  "version": "4",
	  "groupKey": "{}/{team=\"db\"}:{alertname=\"HighLatency\"}",
	  "truncatedAlerts": 0
	}`, firing.Fingerprint().String(), resolved.Fingerprint().String())
	assertJSONEqual(t, r.body, want)
	assertKeyOrder(t, r.body, "receiver", "status", "alerts", "notification_reason", "groupLabels",
		"commonLabels", "commonAnnotations", "externalURL", "version", "groupKey", "truncatedAlerts")
}

func TestMaxAlerts(t *testing.T) {
	srv, reqs := recorder(t, http.StatusOK)
	u, _ := url.Parse(srv.URL)
	n, _ := newNotifier(t, &config.WebhookConfig{URL: &config.SecretURL{URL: u}, MaxAlerts: 2})
	if _, err := n.Notify(t.Context(), testNotification(testAlert("a", time.Time{}), testAlert("b", time.Time{}), testAlert("c", time.Time{}))); err != nil {
		t.Fatal(err)
	}
	var msg struct {
		Alerts          []map[string]any `json:"alerts"`
		TruncatedAlerts uint64           `json:"truncatedAlerts"`
		CommonLabels    map[string]string
	}
	if err := json.Unmarshal(reqs()[0].body, &msg); err != nil {
		t.Fatal(err)
	}
	if len(msg.Alerts) != 2 || msg.TruncatedAlerts != 1 {
		t.Fatalf("alerts %d truncated %d, want 2 and 1", len(msg.Alerts), msg.TruncatedAlerts)
	}
}

func TestStatusClassification(t *testing.T) {
	tests := []struct {
		status     int
		header     map[string]string
		wantErr    bool
		retryable  bool
		retryDelay time.Duration // 0: none
	}{
		{status: http.StatusOK},
		{status: http.StatusNoContent},
		{status: http.StatusAccepted},
		{status: http.StatusInternalServerError, wantErr: true, retryable: true},
		{status: http.StatusBadGateway, wantErr: true, retryable: true},
		{status: http.StatusServiceUnavailable, wantErr: true, retryable: true},
		{status: http.StatusTooManyRequests, wantErr: true, retryable: true},
		{status: http.StatusTooManyRequests, header: map[string]string{"Retry-After": "7"}, wantErr: true, retryable: true, retryDelay: 7 * time.Second},
		{status: http.StatusTooManyRequests, header: map[string]string{"Retry-After": t0.Add(90 * time.Second).Format(http.TimeFormat)}, wantErr: true, retryable: true, retryDelay: 90 * time.Second},
		{status: http.StatusBadRequest, wantErr: true},
		{status: http.StatusUnauthorized, wantErr: true},
		{status: http.StatusNotFound, wantErr: true},
		{status: http.StatusMovedPermanently, header: map[string]string{"Location": ""}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d%v", tt.status, tt.header), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				// Receivers echo the request: the secret must still not show.
				fmt.Fprintf(w, "no such hook %s", r.URL.RequestURI())
			}))
			defer srv.Close()
			n, logs := newNotifier(t, &config.WebhookConfig{URL: &config.SecretURL{URL: secretURL(t, srv.URL)}})
			n.now = func() time.Time { return t0 }
			retryable, err := n.Notify(t.Context(), testNotification(testAlert("a", time.Time{})))
			if (err != nil) != tt.wantErr || retryable != tt.retryable {
				t.Fatalf("Notify = %v, %v; want error %v retryable %v", retryable, err, tt.wantErr, tt.retryable)
			}
			if err == nil {
				return
			}
			var se *notification.StatusError
			if !errors.As(err, &se) || se.Code != tt.status || !strings.Contains(err.Error(), fmt.Sprint(tt.status)) {
				t.Errorf("error %q does not name the status", err)
			}
			if !strings.Contains(err.Error(), "no such hook") {
				t.Errorf("error %q lacks the response body", err)
			}
			d, ok := fault.RetryDelay(err)
			if ok != (tt.retryDelay != 0) || d != tt.retryDelay {
				t.Errorf("RetryDelay = %v, %v; want %v", d, ok, tt.retryDelay)
			}
			assertNoSecret(t, "error", err.Error())
			assertNoSecret(t, "error %+v", fmt.Sprintf("%+v %#v", err, err))
			assertNoSecret(t, "logs", logs.String())
		})
	}
}

func TestNetworkErrorRedacted(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := secretURL(t, srv.URL)
	srv.Close() // connection refused from now on
	n, logs := newNotifier(t, &config.WebhookConfig{URL: &config.SecretURL{URL: u}})
	retryable, err := n.Notify(t.Context(), testNotification(testAlert("a", time.Time{})))
	if err == nil || !retryable {
		t.Fatalf("Notify = %v, %v; want a retryable error", retryable, err)
	}
	assertNoSecret(t, "error", err.Error())
	var ue *url.Error
	if !errors.As(err, &ue) || ue.URL != secret.Redacted {
		t.Errorf("url.Error in chain not redacted: %#v", ue)
	}
	assertNoSecret(t, "unwrapped url.Error", ue.Error())
	assertNoSecret(t, "logs", logs.String())
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	n, logs := newNotifier(t, &config.WebhookConfig{
		URL:     &config.SecretURL{URL: secretURL(t, srv.URL)},
		Timeout: model.Duration(50 * time.Millisecond),
	})
	start := time.Now()
	retryable, err := n.Notify(t.Context(), testNotification(testAlert("a", time.Time{})))
	if err == nil || !retryable {
		t.Fatalf("Notify = %v, %v; want a retryable timeout", retryable, err)
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Fatalf("timeout took %v", elapsed)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "webhook timeout") {
		t.Errorf("error %q is not the configured timeout", err)
	}
	assertNoSecret(t, "error", err.Error())
	assertNoSecret(t, "logs", logs.String())
}

func TestCanceledContextIsRetryable(t *testing.T) {
	srv, _ := recorder(t, http.StatusOK)
	n, _ := newNotifier(t, &config.WebhookConfig{URL: &config.SecretURL{URL: secretURL(t, srv.URL)}})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	retryable, err := n.Notify(ctx, testNotification(testAlert("a", time.Time{})))
	if err == nil || !retryable || !errors.Is(err, context.Canceled) {
		t.Fatalf("Notify = %v, %v; want retryable context.Canceled", retryable, err)
	}
	assertNoSecret(t, "error", err.Error())
}

func TestURLFile(t *testing.T) {
	srv, reqs := recorder(t, http.StatusOK)
	file := filepath.Join(t.TempDir(), "url")
	if err := os.WriteFile(file, []byte("  "+srv.URL+"/from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n, _ := newNotifier(t, &config.WebhookConfig{URLFile: file})
	if _, err := n.Notify(t.Context(), testNotification(testAlert("a", time.Time{}))); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	// The file is read at each send: a rotated URL takes effect.
	if err := os.WriteFile(file, []byte(srv.URL+"/rotated"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Notify(t.Context(), testNotification(testAlert("a", time.Time{}))); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	got := reqs()
	if len(got) != 2 || got[0].path != "/from-file" || got[1].path != "/rotated" {
		t.Fatalf("requests %+v", got)
	}

	// Missing or invalid content: retryable, naming the file, not its content.
	if err := os.WriteFile(file, []byte("ftp://x/"+secretPath), 0o600); err != nil {
		t.Fatal(err)
	}
	retryable, err := n.Notify(t.Context(), testNotification(testAlert("a", time.Time{})))
	if err == nil || !retryable || !errors.Is(err, ErrURLFile) || !strings.Contains(err.Error(), file) {
		t.Fatalf("bad content: Notify = %v, %v", retryable, err)
	}
	assertNoSecret(t, "error", err.Error())
	if err := os.WriteFile(file, []byte("http://x/\x7f"+secretPath), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Notify(t.Context(), testNotification(testAlert("a", time.Time{}))); err == nil {
		t.Fatal("unparsable URL: no error")
	} else {
		assertNoSecret(t, "error", err.Error())
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if retryable, err := n.Notify(t.Context(), testNotification(testAlert("a", time.Time{}))); err == nil || !retryable {
		t.Fatalf("missing file: Notify = %v, %v", retryable, err)
	}
}

func TestNewWithoutURL(t *testing.T) {
	if _, err := New(&config.WebhookConfig{}, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("New without url or url_file: no error")
	}
}

func assertJSONEqual(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("payload is not JSON: %v: %s", err, got)
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

// assertKeyOrder checks the top-level keys appear in Alertmanager's order.
func assertKeyOrder(t *testing.T, body []byte, keys ...string) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Join(got, ",") != strings.Join(keys, ",") {
		t.Fatalf("keys %v, want %v", got, keys)
	}
}

// TestHTTPConfig: http_config's basic auth, bearer authorization and TLS
// (a private CA) are used, and a receiver echoing the credentials back does
// not get them into the error.
func TestHTTPConfig(t *testing.T) {
	const (
		basicPass = "b4sic-pa55"
		bearer    = "b34rer-t0ken"
	)
	var (
		mu   sync.Mutex
		auth []string
	)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth = append(auth, r.Header.Get("Authorization"))
		mu.Unlock()
		if r.URL.Path == "/refuse" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, "bad credentials: %s", r.Header.Get("Authorization"))
		}
	}))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	load := func(path, httpConfig string) *config.WebhookConfig {
		t.Helper()
		yml := fmt.Sprintf("route: {receiver: r}\nreceivers: [{name: r, webhook_configs: [{url: %q, http_config: %s}]}]\n", srv.URL+path, httpConfig)
		cfg, err := config.Parse([]byte(yml), "")
		if err != nil {
			t.Fatalf("%s: %v", yml, err)
		}
		return cfg.Receiver("r").WebhookConfigs[0]
	}
	tlsCfg := fmt.Sprintf("tls_config: {ca_file: %q}", ca)
	for _, tt := range []struct {
		httpConfig, want string
	}{
		{fmt.Sprintf("{basic_auth: {username: klaxon, password: %s}, %s}", basicPass, tlsCfg), "Basic " + base64.StdEncoding.EncodeToString([]byte("klaxon:"+basicPass))},
		{fmt.Sprintf("{authorization: {credentials: %s}, %s}", bearer, tlsCfg), "Bearer " + bearer},
	} {
		n, logs := newNotifier(t, load("/ok", tt.httpConfig))
		if _, err := n.Notify(t.Context(), testNotification(testAlert("a", time.Time{}))); err != nil {
			t.Fatalf("%s: %v", tt.httpConfig, err)
		}
		mu.Lock()
		got := auth[len(auth)-1]
		mu.Unlock()
		if got != tt.want {
			t.Errorf("Authorization %q, want %q", got, tt.want)
		}

		n, _ = newNotifier(t, load("/refuse", tt.httpConfig))
		retryable, err := n.Notify(t.Context(), testNotification(testAlert("a", time.Time{})))
		if err == nil || retryable || !strings.Contains(err.Error(), "401") {
			t.Fatalf("refused: %v %v", retryable, err)
		}
		for _, s := range []string{basicPass, bearer, strings.TrimPrefix(tt.want, "Basic ")} {
			if strings.Contains(err.Error(), s) || strings.Contains(logs.String(), s) {
				t.Errorf("credentials leak: %v", err)
			}
		}
	}
	// Without the CA, the server is not trusted.
	n, _ := newNotifier(t, load("/ok", "{}"))
	if _, err := n.Notify(t.Context(), testNotification(testAlert("a", time.Time{}))); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted server: %v", err)
	}
}
