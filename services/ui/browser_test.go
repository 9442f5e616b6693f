package ui_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"github.com/klaxon-alerts/klaxon/pkg/logtest"
	"github.com/klaxon-alerts/klaxon/pkg/testfile"
	"github.com/klaxon-alerts/klaxon/services/klaxon/app"
	"github.com/klaxon-alerts/klaxon/test/harness"
)

// hook is a webhook receiver that records what it gets.
type hook struct {
	mu     sync.Mutex
	bodies []string
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.bodies = append(h.bodies, string(b))
	h.mu.Unlock()
}

func (h *hook) got(s string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.ContainsFunc(h.bodies, func(b string) bool { return strings.Contains(b, s) })
}

const (
	prefix = "/klaxon"
	user   = "alice"
	pass   = "s3cret"
)

// klaxon runs the one-process Klaxon in process under a route prefix and
// behind basic auth; it returns its base URL (with the prefix).
func klaxon(t *testing.T, configYAML string) string {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	logger, _ := logtest.New()
	addrc, readyc := make(chan string, 1), make(chan struct{})
	o := app.Options{
		ConfigFile:        testfile.Write(t, "klaxon.yml", configYAML),
		WebConfigFile:     testfile.Write(t, "web.yml", fmt.Sprintf("basic_auth_users:\n  %s: %s\n", user, hash)),
		ListenAddress:     "127.0.0.1:0",
		NATSListenAddress: "127.0.0.1:-1",
		StoragePath:       t.TempDir(),
		RoutePrefix:       prefix,
		Logger:            logger,
		Listening:         func(a string) { addrc <- a },
		Ready:             func() { close(readyc) },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, o) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	addr := <-addrc
	select {
	case <-readyc:
	case err := <-done:
		t.Fatalf("Run ended: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Klaxon not ready within 30s")
	}
	return "http://" + addr + prefix
}

// api calls Klaxon's API as alice.
func api(t *testing.T, method, url string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.SetBasicAuth(user, pass)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}

type alertView struct {
	Labels      map[string]string `json:"labels"`
	Fingerprint string            `json:"fingerprint"`
	Status      struct {
		SilencedBy []string `json:"silencedBy"`
	} `json:"status"`
}

func alertsByInstance(t *testing.T, base string) map[string]alertView {
	var list []alertView
	api(t, http.MethodGet, base+"/api/v2/alerts", nil, &list)
	out := map[string]alertView{}
	for _, a := range list {
		key := a.Labels["instance"]
		if a.Labels["alertname"] == "DiskSlow" {
			key += "-slow"
		}
		out[key] = a
	}
	return out
}

// TestBrowser drives every page in headless Chromium against a running
// Klaxon with real alerts and a real webhook: it loads each page (and
// keeps a screenshot of it), silences an alert through the form and sees
// it muted in the API, reads a notification's history after the webhook
// got it, and redrives a dead letter.
func TestBrowser(t *testing.T) {
	chromium := harness.RequireE2E(t, "chromium")
	good := &hook{}
	goodSrv := httptest.NewServer(good)
	defer goodSrv.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no such hook", http.StatusNotFound)
	}))
	defer bad.Close()
	base := klaxon(t, fmt.Sprintf(`route:
  receiver: oncall
  group_by: [alertname]
  group_wait: 200ms
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: [team="storage"]
      receiver: broken
receivers:
  - name: oncall
    webhook_configs: [{url: %q}]
  - name: broken
    webhook_configs: [{url: %q}]
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [instance]
`, goodSrv.URL+"/hook", bad.URL+"/hook"))

	// Behind the same authentication as the API.
	resp, err := http.Get(base + "/alerts")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("UI without credentials: %d, want 401", resp.StatusCode)
	}

	// The inhibiting alerts first: a POST answered 200 is in every
	// process's view of the alerts before the next (read-your-writes), so
	// however loaded the machine, DiskSlow's first flush sees DiskFull.
	if code := api(t, http.MethodPost, base+"/api/v2/alerts", []map[string]any{
		{"labels": map[string]string{"alertname": "DiskFull", "instance": "db1", "severity": "critical"}, "annotations": map[string]string{"summary": "disk full on db1"}},
		{"labels": map[string]string{"alertname": "DiskFull", "instance": "db2", "severity": "critical"}},
	}, nil); code != http.StatusOK {
		t.Fatalf("POST alerts: %d", code)
	}
	if code := api(t, http.MethodGet, base+"/api/v2/alerts", nil, nil); code != http.StatusOK {
		t.Fatalf("GET alerts: %d", code)
	}
	if code := api(t, http.MethodPost, base+"/api/v2/alerts", []map[string]any{
		{"labels": map[string]string{"alertname": "DiskSlow", "instance": "db1", "severity": "warning"}},
		{"labels": map[string]string{"alertname": "BackupFailed", "instance": "db3", "team": "storage"}},
	}, nil); code != http.StatusOK {
		t.Fatalf("POST alerts: %d", code)
	}
	harness.Eventually(t, 20*time.Second, "webhook notified of db1", func() bool { return good.got(`"instance":"db1"`) })

	shots := os.Getenv("KLAXON_UI_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := browser(t, chromium)
	defer cancel()
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": auth}}); err != nil {
		t.Fatal(err)
	}
	// Script errors and console errors (a CSP violation among them) fail
	// the test.
	var consoleErrs []string
	var mu sync.Mutex
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Listen(ctx, func(ev any) {
		var msg string
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			msg = ev.ExceptionDetails.Text
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError {
				msg = ev.Entry.Text + " " + ev.Entry.URL
			}
		}
		if msg != "" {
			mu.Lock()
			consoleErrs = append(consoleErrs, msg)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}

	alerts := alertsByInstance(t, base)
	db1, db2 := alerts["db1"], alerts["db2"]

	t.Run("alerts", func(t *testing.T) {
		var text string
		run(t, ctx, "load alerts",
			chromedp.Navigate(base+"/"),
			chromedp.WaitVisible(`li.alert[data-fingerprint="`+db1.Fingerprint+`"]`))
		text = textOf(t, ctx, `#live`)
		for _, want := range []string{"Receiver oncall", "Receiver broken", "disk full on db1", "Inhibited by"} {
			if !strings.Contains(text, want) {
				t.Errorf("alerts page lacks %q:\n%s", want, text)
			}
		}
		screenshot(t, ctx, shots, "alerts")
		// The filter box takes amtool's matchers and keeps only what matches.
		run(t, ctx, "filter",
			chromedp.SetValue(`#filter`, `{alertname="DiskFull", instance=~"db2"}`),
			chromedp.Submit(`#filter`),
			chromedp.WaitVisible(`li.alert[data-fingerprint="`+db2.Fingerprint+`"]`))
		text = textOf(t, ctx, `#live`)
		if strings.Contains(text, "db1") || !strings.Contains(text, "1 alerts") {
			t.Errorf("filtered page:\n%s", text)
		}
	})

	var silenceID string
	t.Run("silence from an alert", func(t *testing.T) {
		var preview, url string
		run(t, ctx, "open the form from the alert",
			chromedp.Navigate(base+"/alerts"),
			chromedp.Click(`li.alert[data-fingerprint="`+db2.Fingerprint+`"] a[href*="/silences/new"]`),
			chromedp.WaitVisible(`#preview ul`))
		preview = textOf(t, ctx, `#preview`)
		if !strings.Contains(preview, "1 alerts") || !strings.Contains(preview, "db2") {
			t.Errorf("preview: %q", preview)
		}
		screenshot(t, ctx, shots, "silence-form")
		run(t, ctx, "submit",
			chromedp.SendKeys(`#comment`, "replacing the disk"),
			chromedp.Click(`#save`),
			chromedp.WaitVisible(`ol.timeline li`))
		url = location(t, ctx)
		silenceID = url[strings.LastIndex(url, "/")+1:]
		harness.Eventually(t, 5*time.Second, "db2 silenced in the API", func() bool {
			return slices.Contains(alertsByInstance(t, base)["db2"].Status.SilencedBy, silenceID)
		})
		if s := alertsByInstance(t, base)["db1"].Status.SilencedBy; len(s) != 0 {
			t.Errorf("db1 silenced too: %v", s)
		}
		var hist string
		run(t, ctx, "history")
		hist = textOf(t, ctx, `ol.timeline`)
		if !strings.Contains(hist, "create") || !strings.Contains(hist, "by "+user) {
			t.Errorf("silence history: %q", hist)
		}
		screenshot(t, ctx, shots, "silence")
		run(t, ctx, "silences", chromedp.Navigate(base+"/silences"), chromedp.WaitVisible(`table.list`))
		screenshot(t, ctx, shots, "silences")
	})

	t.Run("history of a notification", func(t *testing.T) {
		var text string
		harness.Eventually(t, 10*time.Second, "history shows the notification", func() bool {
			run(t, ctx, "load history",
				chromedp.Navigate(base+"/history?fingerprint="+db1.Fingerprint),
				chromedp.WaitVisible(`#timeline`))
			text = textOf(t, ctx, `#timeline`)
			return strings.Contains(text, "notified")
		})
		for _, want := range []string{"received", "routed to receiver oncall", "flushed to oncall / webhook[0]"} {
			if !strings.Contains(text, want) {
				t.Errorf("history lacks %q:\n%s", want, text)
			}
		}
		screenshot(t, ctx, shots, "history")
		// Why was I not paged: DiskSlow on db1 is inhibited by DiskFull on db1.
		harness.Eventually(t, 10*time.Second, "history shows the inhibition", func() bool {
			run(t, ctx, "load history",
				chromedp.Navigate(base+"/history?fingerprint="+alerts["db1-slow"].Fingerprint),
				chromedp.WaitVisible(`#timeline`))
			text = textOf(t, ctx, `#timeline`)
			return strings.Contains(text, "suppressed by inhibition") && strings.Contains(text, "inhibited by alert "+db1.Fingerprint)
		})
	})

	t.Run("dead letters", func(t *testing.T) {
		var text string
		harness.Eventually(t, 20*time.Second, "the broken receiver's dead letter listed", func() bool {
			run(t, ctx, "load dead letters", chromedp.Navigate(base+"/deadletters"), chromedp.WaitReady(`main`))
			text = textOf(t, ctx, `main`)
			return strings.Contains(text, "klaxon.notify.webhook")
		})
		if !strings.Contains(text, "404") {
			t.Errorf("dead letters page lacks the reason:\n%s", text)
		}
		screenshot(t, ctx, shots, "deadletters")
		var letters []struct {
			ID uint64 `json:"id"`
		}
		api(t, http.MethodGet, base+"/api/klaxon/v1/deadletters", nil, &letters)
		if len(letters) == 0 {
			t.Fatal("no dead letter in the API")
		}
		id := fmt.Sprint(letters[0].ID)
		run(t, ctx, "redrive",
			chromedp.Navigate(base+"/deadletters/"+id),
			chromedp.WaitVisible(`pre.code`),
			chromedp.Click(`main form button`),
			chromedp.WaitVisible(`p.ok`))
		text = textOf(t, ctx, `p.ok`)
		if !strings.Contains(text, "Dead letter "+id+" redriven") {
			t.Errorf("after redrive: %q", text)
		}
		if code := api(t, http.MethodGet, base+"/api/klaxon/v1/deadletters/"+id, nil, nil); code != http.StatusNotFound {
			t.Errorf("redriven dead letter still there: %d", code)
		}
	})

	t.Run("status", func(t *testing.T) {
		var text string
		run(t, ctx, "load status", chromedp.Navigate(base+"/status"), chromedp.WaitVisible(`pre.code`))
		text = textOf(t, ctx, `main`)
		if !strings.Contains(text, "<secret>") || strings.Contains(text, goodSrv.URL) {
			t.Errorf("status page does not mask the webhook URL:\n%s", text)
		}
		if !strings.Contains(text, "OK") {
			t.Errorf("status page does not say ready:\n%s", text)
		}
		screenshot(t, ctx, shots, "status")
	})

	t.Run("routes", func(t *testing.T) {
		var text string
		run(t, ctx, "test labels",
			chromedp.Navigate(base+"/routes"),
			chromedp.SetValue(`#labels`, `{alertname="BackupFailed", team="storage"}`),
			chromedp.Submit(`#labels`),
			chromedp.WaitVisible(`#routed`))
		text = textOf(t, ctx, `#routed`)
		if !strings.Contains(text, "broken") || !strings.Contains(text, `{}/{team="storage"}:{alertname="BackupFailed"}`) {
			t.Errorf("routes test: %q", text)
		}
		screenshot(t, ctx, shots, "routes")
	})

	mu.Lock()
	defer mu.Unlock()
	if len(consoleErrs) > 0 {
		t.Errorf("browser console errors: %v", consoleErrs)
	}
}

// browser starts headless Chromium.
func browser(t *testing.T, path string) (context.Context, context.CancelFunc) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.WindowSize(1100, 800),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		cancelCtx()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	return ctx, func() { cancelCtx(); cancelAlloc() }
}

// stepTimeout bounds one step of the test in the browser.
const stepTimeout = 15 * time.Second

// run runs steps, failing the test with what was being done.
func run(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	get(t, ctx, what, chromedp.Steps(steps...))
}

// get runs one action and returns its value.
func get[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	actx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(actx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

func textOf(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return get(t, ctx, "text of "+sel, chromedp.Text(sel))
}

func location(t *testing.T, ctx context.Context) string {
	t.Helper()
	return get(t, ctx, "location", chromedp.Location())
}

// screenshot keeps the page as name.png in dir.
func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png := get(t, ctx, "screenshot "+name, chromedp.CaptureScreenshot())
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
