package ingest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/matcher"
	"github.com/klaxon-alerts/klaxon/pkg/natsembed"
	"github.com/klaxon-alerts/klaxon/pkg/streams"
	"github.com/klaxon-alerts/klaxon/services/ingest"
)

type env struct {
	srv  *natsembed.Server
	js   jetstream.JetStream
	http *httptest.Server
}

func setup(t *testing.T, so streams.Options, io ingest.Options) *env {
	t.Helper()
	srv, err := natsembed.Start(natsembed.Options{StoreDir: t.TempDir(), ListenAddress: "127.0.0.1:-1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	if err := streams.Provision(t.Context(), js, so); err != nil {
		t.Fatal(err)
	}
	io.JS = js
	in, err := ingest.New(io)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	in.Register(mux)
	h := httptest.NewServer(mux)
	t.Cleanup(h.Close)
	return &env{srv: srv, js: js, http: h}
}

func (e *env) post(t *testing.T, body string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Post(e.http.URL+"/api/v2/alerts", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func (e *env) stored(t *testing.T) uint64 {
	t.Helper()
	s, err := e.js.Stream(t.Context(), contract.StreamInput)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// storedAlerts reads every stored input message and returns how many
// alerts each holds; it fails the test when one is not on its alerts'
// partition subject or lacks the time of receipt.
func (e *env) storedAlerts(t *testing.T) []int {
	t.Helper()
	s, err := e.js.Stream(t.Context(), contract.StreamInput)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		msg, err := s.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		ps, err := alert.DecodePostable(msg.Data)
		if err != nil || msg.Header.Get(contract.HeaderReceivedAt) == "" {
			t.Fatalf("message %d: %v, headers %v", seq, err, msg.Header)
		}
		for _, p := range ps {
			if want := contract.AlertsInSubject(contract.PartitionOf(p.Fingerprint().String())); msg.Subject != want {
				t.Fatalf("alert %v stored on %s, want its partition %s", p.Labels, msg.Subject, want)
			}
		}
		sizes = append(sizes, len(ps))
	}
	return sizes
}

const twoAlerts = `[{"labels":{"alertname":"A","i":"1"}},{"labels":{"alertname":"A","i":"2"},"startsAt":"2026-01-01T00:00:00Z"}]`

func TestStoresEveryAlertBefore200(t *testing.T) {
	e := setup(t, streams.Options{}, ingest.Options{})
	if code, body, _ := e.post(t, twoAlerts); code != http.StatusOK {
		t.Fatalf("POST = %d %s", code, body)
	}
	if sizes := e.storedAlerts(t); len(sizes) > 2 || sum(sizes) != 2 {
		t.Fatalf("stored messages of %v alerts, want the request's 2 alerts in one message per partition", sizes)
	}
}

// A request's alerts are stored in one message per partition of at most
// 64 alerts, each a JSON array as Alertmanager's API takes them, all
// stamped with the time of receipt.
func TestAlertsStoredInBatches(t *testing.T) {
	e := setup(t, streams.Options{}, ingest.Options{})
	var alerts []string
	for i := 0; len(alerts) < 130; i++ { // 130 alerts of partition 0
		a := alert.Postable{Labels: map[string]string{"alertname": "A", "i": fmt.Sprint(i)}}
		if contract.PartitionOf(a.Fingerprint().String()) == 0 {
			alerts = append(alerts, fmt.Sprintf(`{"labels":{"alertname":"A","i":"%d"}}`, i))
		}
	}
	alerts = append(alerts, `{"labels":{"alertname":"B"}}`) // another partition
	if code, body, _ := e.post(t, "["+strings.Join(alerts, ",")+"]"); code != http.StatusOK {
		t.Fatalf("POST = %d %s", code, body)
	}
	sizes := e.storedAlerts(t)
	slices.Sort(sizes)
	if fmt.Sprint(sizes) != "[1 2 64 64]" {
		t.Fatalf("batches of %v alerts, want [1 2 64 64]", sizes)
	}
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

func TestInvalidAlertsNamedValidOnesStored(t *testing.T) {
	e := setup(t, streams.Options{}, ingest.Options{})
	code, body, _ := e.post(t, `[{"labels":{"alertname":"ok"}},{"labels":{}},{"labels":{"a":"b"},"startsAt":"2026-01-02T00:00:00Z","endsAt":"2026-01-01T00:00:00Z"}]`)
	if code != http.StatusBadRequest {
		t.Fatalf("POST = %d, want 400", code)
	}
	for _, want := range []string{"alert 1", "labels: at least one label pair required", "alert 2", "endsAt: start time must be before end time"} {
		if !strings.Contains(body, want) {
			t.Errorf("400 body %q does not name %q", body, want)
		}
	}
	if n := e.stored(t); n != 1 {
		t.Fatalf("stored %d, want the 1 valid alert", n)
	}
}

func TestMalformedAndOversizedBodies(t *testing.T) {
	e := setup(t, streams.Options{}, ingest.Options{MaxBodyBytes: 200})
	if code, body, _ := e.post(t, `{"labels":`); code != http.StatusBadRequest || !strings.Contains(body, "malformed") {
		t.Fatalf("malformed: %d %s", code, body)
	}
	big := `[` + strings.Repeat(`{"labels":{"alertname":"A"}},`, 20) + `{"labels":{"alertname":"A"}}]`
	if code, _, _ := e.post(t, big); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized: %d, want 413", code)
	}
	if n := e.stored(t); n != 0 {
		t.Fatalf("stored %d from rejected requests", n)
	}
}

// An alert larger than what can be stored end to end (a quarter of the
// server's max_payload: 2 MiB on the embedded server) is refused with a 400
// naming the limit; the other alerts of the request are stored, and the
// answer does not echo the huge alert.
func TestAlertLargerThanTheLimitRefused(t *testing.T) {
	e := setup(t, streams.Options{}, ingest.Options{MaxBodyBytes: 8 << 20})
	huge := `{"labels":{"alertname":"Huge"},"annotations":{"dump":"` + strings.Repeat("x", 3<<20) + `"}}`
	fits := `{"labels":{"alertname":"Fits"},"annotations":{"dump":"` + strings.Repeat("y", 1<<20) + `"}}`
	code, body, _ := e.post(t, "["+fits+","+huge+"]")
	if code != http.StatusBadRequest || !strings.Contains(body, "alert 1 map[alertname:Huge]") || !strings.Contains(body, "2097152 bytes") {
		t.Fatalf("POST = %d %.300s; want 400 naming alert 1 and the 2097152-byte limit", code, body)
	}
	if len(body) > 1000 {
		t.Fatalf("error answer of %d bytes echoes the alert", len(body))
	}
	if n := e.stored(t); n != 1 {
		t.Fatalf("stored %d, want the 1 alert within the limit", n)
	}
}

// A full input stream is backpressure: 429 with Retry-After, nothing claimed.
func TestFullStreamAnswers429(t *testing.T) {
	e := setup(t, streams.Options{InputMaxBytes: 600}, ingest.Options{})
	var code int
	var hdr http.Header
	for i := 0; i < 50 && code != http.StatusTooManyRequests; i++ {
		code, _, hdr = e.post(t, twoAlerts)
		if code != http.StatusOK && code != http.StatusTooManyRequests {
			t.Fatalf("POST = %d", code)
		}
	}
	if code != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" {
		t.Fatalf("full stream: %d Retry-After=%q, want 429 with Retry-After", code, hdr.Get("Retry-After"))
	}
}

// With NATS gone, ingest answers 503 with Retry-After, never 200.
func TestUnreachableNATSAnswers503(t *testing.T) {
	e := setup(t, streams.Options{}, ingest.Options{PublishTimeout: time.Second})
	e.srv.Shutdown()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		code, _, hdr := e.post(t, twoAlerts)
		if code == http.StatusOK {
			t.Fatal("200 for alerts NATS cannot have stored")
		}
		if code == http.StatusServiceUnavailable && hdr.Get("Retry-After") != "" {
			return
		}
	}
	t.Fatal("no 503 with Retry-After while NATS is down")
}

// A request with thousands of invalid alerts gets a 400 that names the
// first ones and counts the rest: its answer stays small.
func TestManyInvalidAlertsAnsweredBriefly(t *testing.T) {
	e := setup(t, streams.Options{}, ingest.Options{})
	var alerts []string
	for i := range 5000 {
		alerts = append(alerts, fmt.Sprintf(`{"labels":{"alertname":"A","i":"%d","":"%s"}}`, i, strings.Repeat("x", 100)))
	}
	code, body, _ := e.post(t, "["+strings.Join(alerts, ",")+"]")
	if code != http.StatusBadRequest || !strings.Contains(body, "alert 0 ") || !strings.Contains(body, "and 4980 more invalid alerts") {
		t.Fatalf("POST = %d %.300s", code, body)
	}
	if len(body) > 16<<10 {
		t.Fatalf("answer of %d bytes for 5000 invalid alerts", len(body))
	}
}

// Thirty concurrent requests of 1,000 alerts each, on a healthy NATS, are
// all stored and all answered 200 (a request once cost one publish per
// alert, and slow acknowledgements turned into 503 for stored alerts).
func TestConcurrentLargeRequestsAllStored(t *testing.T) {
	e := setup(t, streams.Options{}, ingest.Options{})
	body := func(r int) string {
		var alerts []string
		for i := range 1000 {
			alerts = append(alerts, fmt.Sprintf(`{"labels":{"alertname":"A","r":"%d","i":"%d"}}`, r, i))
		}
		return "[" + strings.Join(alerts, ",") + "]"
	}
	codes := make(chan int, 30)
	var wg sync.WaitGroup
	for r := range 30 {
		wg.Go(func() {
			code, _, _ := e.post(t, body(r))
			codes <- code
		})
	}
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != http.StatusOK {
			t.Errorf("a request answered %d", code)
		}
	}
	if n := sum(e.storedAlerts(t)); n != 30*1000 {
		t.Fatalf("stored %d alerts, want 30 requests × 1000", n)
	}
}

// In classic mode (--enable-feature=classic-mode) an alert's label names
// follow the classic rule, as Alertmanager's: a UTF-8 name is refused with
// a 400 that names it; by default it is accepted.
func TestClassicModeRefusesUTF8LabelNames(t *testing.T) {
	body := `[{"labels":{"alertname":"A","service.name":"api"}}]`
	classic := setup(t, streams.Options{}, ingest.Options{Mode: matcher.Classic})
	code, msg, _ := classic.post(t, body)
	if code != http.StatusBadRequest || !strings.Contains(msg, "invalid label name") || !strings.Contains(msg, "service.name") {
		t.Fatalf("classic mode: %d %s, want 400 naming service.name", code, msg)
	}
	fallback := setup(t, streams.Options{}, ingest.Options{})
	if code, msg, _ := fallback.post(t, body); code != http.StatusOK {
		t.Fatalf("default mode: %d %s, want 200", code, msg)
	}
}
