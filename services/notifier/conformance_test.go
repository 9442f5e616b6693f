package notifier

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/fault"
	"github.com/klaxon-alerts/klaxon/pkg/logtest"
	"github.com/klaxon-alerts/klaxon/services/notifier/notification"
	"github.com/klaxon-alerts/klaxon/services/notifier/template"
)

// conformanceSecret is in every HTTP integration's URL path.
const conformanceSecret = "c0nf0rm4nce-s3cr3t"

// httpIntegrations are the HTTP integrations, each as a receiver whose one
// integration posts to url.
var httpIntegrations = map[string]string{
	"webhook": "webhook_configs: [{url: %q}]",
	"slack":   "slack_configs: [{api_url: %q}]",
	// The URL is not a secret for most vendors: the check that it does not
	// leak is stricter than needed, and holds.
	"pagerduty":  "pagerduty_configs: [{url: %q, routing_key: r0ut1ng}]",
	"opsgenie":   "opsgenie_configs: [{api_url: %q, api_key: k3y}]",
	"discord":    "discord_configs: [{webhook_url: %q}]",
	"msteams":    "msteams_configs: [{webhook_url: %q}]",
	"msteamsv2":  "msteamsv2_configs: [{webhook_url: %q}]",
	"telegram":   "telegram_configs: [{api_url: %q, bot_token: '123:b0t', chat_id: 42}]",
	"mattermost": "mattermost_configs: [{webhook_url: %q}]",
	"pushover":   "pushover_configs: [{api_url: %q, token: t0k3n, user_key: us3r}]",
	"victorops":  "victorops_configs: [{api_url: %q, api_key: k3y, routing_key: r}]",
	"rocketchat": "rocketchat_configs: [{api_url: %q, token: t0k, token_id: us3r}]",
	"incidentio": "incidentio_configs: [{url: %q, alert_source_token: t0k}]",
	"jira":       "jira_configs: [{api_url: %q, project: OPS, issue_type: Bug}]",
	"sns":        "sns_configs: [{api_url: %q, topic_arn: 'arn:aws:sns:eu-west-1:1:t', sigv4: {region: eu-west-1, access_key: AKID, secret_key: s3cr3t}}]",
	"wechat":     "wechat_configs: [{api_url: %q, api_secret: s3cr3t, corp_id: c0rp, to_user: '@all'}]",
	"webex":      "webex_configs: [{api_url: %q, room_id: r00m, http_config: {authorization: {credentials: w3bexT0k3n}}}]",
}

// okAnswers are the success answers of integrations whose vendor answers
// more than "ok".
var okAnswers = map[string]string{
	"telegram":   `{"ok": true, "result": {"message_id": 1}}`,
	"rocketchat": `{"success": true}`,
	"jira":       `{"issues": [], "key": "OPS-1"}`,
	"wechat":     `{"errcode": 0, "errmsg": "ok", "access_token": "t0k3n", "expires_in": 7200}`,
}

// TestHTTPConformance runs the same checks against every HTTP integration,
// built as the stage builds them: success, the classification of failed
// answers (429 retried after its Retry-After, 5xx retried, other 4xx
// final), a hanging receiver abandoned at the deadline, and no secret of
// the URL in any error or log line.
func TestHTTPConformance(t *testing.T) {
	cases := []struct {
		name      string
		status    int
		header    string
		hang      bool
		ok        bool
		retryable bool
		delay     time.Duration
		reason    string
	}{
		{name: "200", status: 200, ok: true},
		{name: "400", status: 400, reason: notification.ReasonClientError},
		{name: "403", status: 403, reason: notification.ReasonClientError},
		{name: "404", status: 404, reason: notification.ReasonClientError},
		{name: "429", status: 429, header: "3", retryable: true, delay: 3 * time.Second, reason: notification.ReasonRateLimited},
		{name: "500", status: 500, retryable: true, reason: notification.ReasonServerError},
		{name: "502", status: 502, retryable: true, reason: notification.ReasonServerError},
		{name: "hang", hang: true, retryable: true, reason: notification.ReasonTimeout},
	}
	for typ, receiverYAML := range httpIntegrations {
		for _, tc := range cases {
			t.Run(typ+"/"+tc.name, func(t *testing.T) {
				release := make(chan struct{})
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if tc.hang {
						select {
						case <-release:
						case <-r.Context().Done():
						}
						return
					}
					if tc.header != "" {
						w.Header().Set("Retry-After", tc.header)
					}
					w.WriteHeader(tc.status)
					if tc.status == 200 {
						fmt.Fprint(w, cmp.Or(okAnswers[typ], "ok"))
						return
					}
					fmt.Fprintf(w, "refused %s", r.URL.Path) // echoes the secret
				}))
				defer srv.Close()
				defer close(release)
				yml := fmt.Sprintf("route: {receiver: r}\nreceivers:\n  - name: r\n    "+receiverYAML+"\n", srv.URL+"/hooks/"+conformanceSecret)
				cfg, tmpl := parseWithTemplates(t, yml)
				logs := &logtest.Buffer{}
				integ, err := newIntegration(cfg.Receiver("r"), contract.Integration{Receiver: "r", Type: typ}, tmpl,
					slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
				defer cancel()
				nt := &notification.Notification{Receiver: "r", GroupKey: groupKey, Alerts: []alert.Alert{firingAlert("a")}, At: t0, ExternalURL: "http://klaxon.example"}
				retryable, err := integ.notifier.Notify(ctx, nt)
				if tc.ok {
					if err != nil {
						t.Fatalf("Notify: %v", err)
					}
					return
				}
				if err == nil {
					t.Fatal("no error")
				}
				if retryable != tc.retryable {
					t.Errorf("retryable = %v, want %v (%v)", retryable, tc.retryable, err)
				}
				if d, ok := fault.RetryDelay(err); d != tc.delay || ok != (tc.delay != 0) {
					t.Errorf("RetryDelay = %v, %v; want %v", d, ok, tc.delay)
				}
				if got := failureReason(err); got != tc.reason {
					t.Errorf("failure reason %q, want %q (%v)", got, tc.reason, err)
				}
				for what, text := range map[string]string{"error": fmt.Sprintf("%v %+v", err, err), "logs": logs.String()} {
					if strings.Contains(text, conformanceSecret) {
						t.Errorf("%s leaks the URL: %s", what, text)
					}
				}
			})
		}
	}
}

// TestEveryIntegrationIsBuilt builds every integration a receiver can hold
// and wants a builder for each, and no builder for a type no receiver can
// hold: config.Receiver.Integrations and the builders table agree.
func TestEveryIntegrationIsBuilt(t *testing.T) {
	yml := "global: {smtp_smarthost: 'localhost:25', smtp_from: klaxon@example.org}\nroute: {receiver: r}\nreceivers:\n  - name: r\n"
	for _, typ := range slices.Sorted(maps.Keys(httpIntegrations)) {
		yml += "    " + fmt.Sprintf(httpIntegrations[typ], "http://127.0.0.1:9/hook") + "\n"
	}
	yml += "    email_configs: [{to: ops@example.org}]\n"
	cfg, tmpl := parseWithTemplates(t, yml)
	seen := map[string]bool{}
	for _, in := range cfg.Receiver("r").Integrations() {
		seen[in.Type] = true
		if _, err := newIntegration(cfg.Receiver("r"), contract.Integration{Receiver: "r", Type: in.Type, Index: in.Index}, tmpl, slog.New(slog.DiscardHandler)); err != nil {
			t.Errorf("%s: %v", in.Type, err)
		}
	}
	for typ := range builders {
		if !seen[typ] {
			t.Errorf("builder %q: no receiver configuration of that type (missing from Receiver.Integrations or from this test)", typ)
		}
	}
}

// parseWithTemplates parses a configuration and its templates.
func parseWithTemplates(t *testing.T, yml string) (*config.Config, *template.Template) {
	t.Helper()
	cfg, err := config.Parse([]byte(yml), "")
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := template.FromConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, tmpl
}
