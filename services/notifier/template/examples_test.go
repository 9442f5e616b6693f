package template

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klaxon-alerts/klaxon/pkg/config"
)

// examples is where the README's examples live.
var examples = filepath.Join("..", "..", "..", "configs", "examples")

func loadExample(t *testing.T, name string) (*config.Config, *Template) {
	t.Helper()
	cfg, err := config.Load(filepath.Join(examples, name))
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	if err := Check(cfg); err != nil {
		t.Fatalf("check %s: %v", name, err)
	}
	tmpl, err := FromConfig(cfg, WithNow(func() time.Time { return Sample(cfg).Alerts[0].StartsAt.Add(3723 * time.Second) }))
	if err != nil {
		t.Fatal(err)
	}
	return cfg, tmpl
}

func render(t *testing.T, tmpl *Template, cfg *config.Config, src string) string {
	t.Helper()
	out, err := tmpl.Text(src, Sample(cfg))
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	return out
}

// TestSlackExample: configs/examples/slack.yml (the README's Slack
// example) loads, its templates check, and its custom title and text
// render.
func TestSlackExample(t *testing.T) {
	cfg, tmpl := loadExample(t, "slack.yml")
	team := cfg.Receiver("team-channel").SlackConfigs[0]
	if got := render(t, tmpl, cfg, team.Title); got != "[FIRING:1] SampleAlert (critical)" {
		t.Errorf("title = %q", got)
	}
	text := render(t, tmpl, cfg, team.Text)
	for _, want := range []string{
		"*🔥 Sample alert on web-1:9100* on `web-1`", "Firing for 1h 2m 3s", "<https://runbooks.example/sample|Runbook>",
		"*✅ Sample alert on web-2:9100*", "Resolved at 03:03 UTC",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	if got := render(t, tmpl, cfg, team.Actions[0].URL); got != "http://klaxon.example/#/silences/new?filter=%7Balertname%3D%22SampleAlert%22%7D" {
		t.Errorf("action url = %q", got)
	}
	bot := cfg.Receiver("incidents").SlackConfigs[0]
	if !bot.UpdateMessage || bot.AppTokenFile == "" || bot.APIURL == nil || bot.APIURL.String() == "" {
		t.Errorf("incidents: %+v", bot)
	}
	if got := render(t, tmpl, cfg, bot.Title); got != "[FIRING:1] SampleAlert (api critical)" {
		t.Errorf("default title = %q", got)
	}
	if got := render(t, tmpl, cfg, bot.Fields[0].Value); got != "critical" {
		t.Errorf("severity field = %q", got)
	}
}

// TestEmailExample: configs/examples/email.yml (the README's e-mail
// example) loads, its templates check, and its subject renders.
func TestEmailExample(t *testing.T) {
	cfg, tmpl := loadExample(t, "email.yml")
	e := cfg.Receiver("ops-mail").EmailConfigs[0]
	if got := render(t, tmpl, cfg, e.Headers["Subject"]); got != "[FIRING:1] SampleAlert (critical)" {
		t.Errorf("subject = %q", got)
	}
	if !e.Threading.Enabled || e.Threading.ThreadByDate != "daily" || e.Smarthost.String() != "smtp.example.org:587" ||
		e.AuthPasswordFile == "" || e.RequireTLS == nil || !*e.RequireTLS {
		t.Errorf("email config %+v", e)
	}
	html, err := tmpl.HTML(e.HTML, Sample(cfg))
	if err != nil || !strings.Contains(html, "Sample alert on web-1:9100") {
		t.Errorf("html: %v", err)
	}
}

// TestTeamsExample: the routing example shares the custom templates.
func TestTeamsExample(t *testing.T) {
	loadExample(t, "teams.yml")
}
