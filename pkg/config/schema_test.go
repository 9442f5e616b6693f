package config_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/config"
)

func TestFullSchema(t *testing.T) {
	cfg, err := config.Load(filepath.Join("testdata", "valid", "full.yml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("testdata", "valid")
	g := cfg.Global
	check := func(what string, got, want any) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}

	check("resolve_timeout", time.Duration(g.ResolveTimeout), 2*time.Minute)
	check("http_config.follow_redirects", g.HTTPConfig.FollowRedirects, false)
	check("http_config.enable_http2 (default)", g.HTTPConfig.EnableHTTP2, true)
	check("http_config.tls_config.ca_file (relative to the file)", g.HTTPConfig.TLSConfig.CAFile, filepath.Join(dir, "ca.pem"))
	check("smtp_require_tls", g.SMTPRequireTLS, false)
	check("pagerduty_url", g.PagerdutyURL.String(), "https://events.eu.pagerduty.com/v2/enqueue")
	check("slack_app_url (default)", g.SlackAppURL.String(), "https://slack.com/api/chat.postMessage")
	check("templates[0]", cfg.Templates[0], filepath.Join(dir, "templates", "*.tmpl"))
	check("templates[1]", cfg.Templates[1], "/etc/klaxon/extra.tmpl")

	// Route tree as configured.
	r := cfg.Route
	check("route.routes[0].match_re", r.Routes[0].MatchRE["service"].Original(), "^(foo1|foo2|baz)$")
	check("route.routes[1].matchers", r.Routes[1].Matchers.String(), `{service="files",severity=~"warn|crit"}`)
	check("route.routes[2].matchers (sorted)", r.Routes[2].Matchers.String(), `{dotted.name!="x",service="database"}`)
	check("route.routes[2].group_by all", r.Routes[2].GroupByAll, true)
	if r.Routes[0].GroupBy != nil {
		t.Errorf("absent group_by should stay nil (inherit), got %v", r.Routes[0].GroupBy)
	}

	// Receivers, defaults and global fallbacks.
	slack := cfg.Receiver("team-x").SlackConfigs
	check("slack[0] from anchor: channel", slack[0].Channel, "#alerts")
	check("slack[1] merged: channel", slack[1].Channel, "#alerts")
	check("slack[1] merged: send_resolved", slack[1].SendResolved, true)
	check("slack[1] own title", slack[1].Title, "custom")
	check("slack[1] default text", slack[1].Text, `{{ template "slack.default.text" . }}`)
	check("slack[1] api_url from global", slack[1].APIURL.Reveal(), "https://hooks.slack.com/services/T0/B0/XXX")
	check("slack[1] link action cleared name", slack[1].Actions[0].Name, "")
	check("slack[1] field short", *slack[1].Fields[0].Short, true)

	appSlack := cfg.Receiver("team-db").SlackConfigs[0]
	check("app token: posts to the app URL", appSlack.APIURL.Reveal(), "https://slack.com/api/chat.postMessage")
	check("app token: bearer authorization", string(appSlack.HTTPConfig.Authorization.Credentials), "xoxb-1234")
	if g.HTTPConfig.Authorization != nil {
		t.Error("the app token leaked into the global http_config")
	}

	mails := cfg.Receiver("team-x-mails").EmailConfigs[0]
	check("email from (global)", mails.From, "alertmanager@example.org")
	check("email smarthost (global)", mails.Smarthost.String(), "smtp.example.org:587")
	check("email hello (global)", mails.Hello, "klaxon.example.org")
	check("email password file (global)", mails.AuthPasswordFile, "/run/secrets/smtp")
	check("email auth secret (global)", mails.AuthSecret.Reveal(), "cram-secret")
	check("email require_tls (global)", *mails.RequireTLS, false)
	check("email tls (global)", mails.TLSConfig.InsecureSkipVerify, true)
	check("email headers canonical", mails.Headers["Subject"], "custom subject")
	check("email send_resolved default", mails.SendResolved, false)
	check("email html default", mails.HTML, `{{ template "email.default.html" . }}`)

	own := cfg.Receiver("team-y-mails").EmailConfigs[0]
	check("email own smarthost", own.Smarthost.String(), "smtp2.example.org:25")
	check("email own password", own.AuthPassword.Reveal(), "own")
	check("email own password: no global file", own.AuthPasswordFile, "")
	check("email own tls", own.TLSConfig.ServerName, "smtp2.example.org")

	hook := cfg.Receiver("team-db").WebhookConfigs[0]
	check("webhook url_file", hook.URLFile, "/run/secrets/db-webhook")
	check("webhook send_resolved", hook.SendResolved, false)
	check("webhook max_alerts", hook.MaxAlerts, uint64(5))
	check("webhook timeout", time.Duration(hook.Timeout), 30*time.Second)
	check("webhook http_config (global)", hook.HTTPConfig, g.HTTPConfig)
	pager := cfg.Receiver("team-x-pager").WebhookConfigs[0]
	check("webhook own basic auth file (relative stays absolute)", pager.HTTPConfig.BasicAuth.PasswordFile, "/run/secrets/pager")
	check("webhook own http_config default follow_redirects", pager.HTTPConfig.FollowRedirects, true)

	// Inhibition, old and new forms.
	if len(cfg.InhibitRules) != 2 {
		t.Fatalf("inhibit rules: %d", len(cfg.InhibitRules))
	}
	check("inhibit[0] sources", cfg.InhibitRules[0].Sources().String(), `{severity="critical"}`)
	check("inhibit[0] targets", cfg.InhibitRules[0].Targets().String(), `{severity=~"warn.*"}`)
	if !cfg.InhibitRules[0].Targets().Matches(model.LabelSet{"severity": "warning"}) {
		t.Error("inhibit[0] targets should match severity=warning")
	}
	check("inhibit[1] name", cfg.InhibitRules[1].Name, "new-style")

	// Time intervals: mute_time_intervals merged with time_intervals.
	names := []string{}
	for _, ti := range cfg.TimeIntervals {
		names = append(names, ti.Name)
	}
	if !slices.Equal(names, []string{"weekends", "office"}) {
		t.Errorf("time intervals %v", names)
	}
	hit, err := cfg.Intervals().Contains([]string{"weekends", "office"}, time.Date(2024, 3, 4, 10, 0, 0, 0, time.UTC))
	if err != nil || !slices.Equal(hit, []string{"office"}) {
		t.Errorf("Monday 10:00 UTC (11:00 Paris): %v %v", hit, err)
	}

	// The rendering keeps every secret out and parses back.
	s := cfg.String()
	for _, secret := range []string{"cram-secret", "og-key", "wc-secret", "rc-token", "xoxb-1234", "B0/XXX"} {
		if strings.Contains(s, secret) {
			t.Errorf("String() reveals %q", secret)
		}
	}
}

func TestGroupByEmptyOverridesParent(t *testing.T) {
	cfg, err := config.Parse([]byte(`
route:
  receiver: r
  group_by: [a, b]
  routes:
    - receiver: r
      group_by: []
    - receiver: r
receivers: [{name: r}]
`), "")
	if err != nil {
		t.Fatal(err)
	}
	if g := cfg.Route.Routes[0].GroupBy; g == nil || len(g) != 0 {
		t.Errorf("group_by: [] = %#v, want empty non-nil", g)
	}
	if g := cfg.Route.Routes[1].GroupBy; g != nil {
		t.Errorf("absent group_by = %#v, want nil", g)
	}
}

func TestRelativePathsNotResolvedWithoutFile(t *testing.T) {
	cfg, err := config.Parse([]byte("templates: ['t/*.tmpl']\nroute: {receiver: r}\nreceivers: [{name: r}]\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Templates[0] != "t/*.tmpl" {
		t.Errorf("templates = %v", cfg.Templates)
	}
}

func TestAliasBomb(t *testing.T) {
	// Route r<i> has ten children, each an alias of r<i-1>: the tree expands
	// to 10^9 routes. The decoder must give up, quickly.
	var b strings.Builder
	b.WriteString("route:\n  receiver: r\n  routes:\n    - &r0 {receiver: r}\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "    - &r%d {routes: [", i)
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*r%d", i-1)
		}
		b.WriteString("]}\n")
	}
	b.WriteString("receivers: [{name: r}]\n")
	start := time.Now()
	_, err := config.Parse([]byte(b.String()), "bomb.yml")
	if err == nil || !strings.Contains(err.Error(), "document too large") {
		t.Fatalf("want a size error, got %v", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("took %v", d)
	}
}
