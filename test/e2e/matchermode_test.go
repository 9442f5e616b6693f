package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/klaxon-alerts/klaxon/test/harness"
)

// Alertmanager 0.25 parses matchers only in what later releases call
// classic-mode: a Klaxon started with --enable-feature=classic-mode
// answers the API's filters and silences as it does, and a Klaxon without
// the flag (Alertmanager's current default, falling back from the UTF-8
// parser) accepts the UTF-8 forms 0.25 refuses.
func TestClassicModeAPIAgreesWithAlertmanager025(t *testing.T) {
	amBin := requireE2E(t, "prometheus-alertmanager")
	s := newSink(t)
	cfg := writeConfig(t, s.srv.URL, "['...']")
	amWeb := freeAddr(t)
	start(t, "alertmanager", amBin, "--config.file="+cfg, "--storage.path="+t.TempDir(),
		"--web.listen-address="+amWeb, "--cluster.listen-address=")
	startWith := func(name string, extra ...string) string {
		_, web := harness.StartKlaxon(t, bin, name, func() []string {
			return append([]string{"--config.file", cfg, "--storage.path", t.TempDir(), "--nats.listen-address", freeAddr(t)}, extra...)
		})
		return web
	}
	classic := startWith("klaxon-classic", "--enable-feature=classic-mode")
	fallback := startWith("klaxon-default")
	waitReady(t, amWeb)

	silence := func(name string) string {
		now := time.Now().UTC()
		return fmt.Sprintf(`{"matchers":[{"name":%q,"value":"api","isRegex":false,"isEqual":true}],"startsAt":%q,"endsAt":%q,"createdBy":"t","comment":"mode"}`,
			name, now.Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339))
	}
	type request struct {
		method, path, body string
		fallbackOK         bool // what Klaxon answers without the flag
	}
	var requests []request
	for _, f := range []struct {
		filter     string
		fallbackOK bool
	}{
		{`team="db"`, true},
		{`code=~"5\d\d"`, true},
		{`team=db ops`, true},
		{`"service.name"="api"`, true},
		{`équipe=db`, true},
		{`{team="db"}`, false},
		{`team`, false},
	} {
		q := "?filter=" + url.QueryEscape(f.filter)
		requests = append(requests,
			request{http.MethodGet, "/api/v2/alerts" + q, "", f.fallbackOK},
			request{http.MethodGet, "/api/v2/silences" + q, "", f.fallbackOK})
	}
	requests = append(requests,
		request{http.MethodPost, "/api/v2/silences", silence("service_name"), true},
		request{http.MethodPost, "/api/v2/silences", silence("service.name"), true},
		request{http.MethodPost, "/api/v2/silences", silence("9lives"), true},
		// Alerts' label names: classic rules in classic mode.
		request{http.MethodPost, "/api/v2/alerts", `[{"labels":{"alertname":"ModeOK"}}]`, true},
		request{http.MethodPost, "/api/v2/alerts", `[{"labels":{"alertname":"Mode","service.name":"api"}}]`, true},
		request{http.MethodPost, "/api/v2/alerts", `[{"labels":{"alertname":"Mode","9lives":"x"}}]`, true})

	do := func(web string, r request) int {
		req, err := http.NewRequestWithContext(t.Context(), r.method, "http://"+web+r.path, strings.NewReader(r.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, r := range requests {
		am, kl, def := do(amWeb, r), do(classic, r), do(fallback, r)
		if am != kl {
			t.Errorf("%s %s %s: Alertmanager 0.25 %d, Klaxon in classic-mode %d", r.method, r.path, r.body, am, kl)
		}
		if (def == http.StatusOK) != r.fallbackOK {
			t.Errorf("%s %s %s: Klaxon without the flag %d, want ok=%v", r.method, r.path, r.body, def, r.fallbackOK)
		}
	}
}
