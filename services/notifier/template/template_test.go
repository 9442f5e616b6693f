package template

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/services/notifier/notification"
)

var at = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func mkAlert(labels, annotations map[string]string, endsAt time.Time) alert.Alert {
	a := alert.Alert{Labels: model.LabelSet{}, Annotations: model.LabelSet{}, StartsAt: at.Add(-90 * time.Minute), EndsAt: endsAt}
	for k, v := range labels {
		a.Labels[model.LabelName(k)] = model.LabelValue(v)
	}
	for k, v := range annotations {
		a.Annotations[model.LabelName(k)] = model.LabelValue(v)
	}
	return a
}

func data(group map[string]string, alerts ...alert.Alert) *notification.Data {
	gl := model.LabelSet{}
	for k, v := range group {
		gl[model.LabelName(k)] = model.LabelValue(v)
	}
	return notification.NewData("team-x", gl, alerts, at, "first notification", "http://klaxon.example")
}

func mustNew(t *testing.T, files ...string) *Template {
	t.Helper()
	tmpl, err := New(files, WithNow(func() time.Time { return at }))
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}

func text(t *testing.T, tmpl *Template, src string, d *notification.Data) string {
	t.Helper()
	out, err := tmpl.Text(src, d)
	if err != nil {
		t.Fatalf("Text(%q): %v", src, err)
	}
	return out
}

// TestDefaultShapes: the subject, Slack title and fallback have
// Alertmanager's shape, byte for byte (including its trailing space when no
// label is common beyond the group's).
func TestDefaultShapes(t *testing.T) {
	tmpl := mustNew(t)
	firingA := mkAlert(map[string]string{"alertname": "HighLatency", "job": "api", "instance": "a"}, map[string]string{"summary": "p99 above 1s on a"}, time.Time{})
	firingB := mkAlert(map[string]string{"alertname": "HighLatency", "job": "api", "instance": "b"}, nil, time.Time{})
	resolvedB := mkAlert(map[string]string{"alertname": "HighLatency", "job": "api", "instance": "b"}, nil, at.Add(-time.Minute))
	otherJob := mkAlert(map[string]string{"alertname": "HighLatency", "job": "db", "instance": "c"}, nil, time.Time{})
	group := map[string]string{"alertname": "HighLatency"}

	for _, tt := range []struct {
		name string
		d    *notification.Data
		want string
	}{
		{"common labels beyond the group", data(group, firingA, firingB), "[FIRING:2] HighLatency (api)"},
		{"one firing, one resolved", data(group, firingA, resolvedB), "[FIRING:1] HighLatency (api)"},
		{"all resolved", data(group, resolvedB), "[RESOLVED] HighLatency (b api)"},
		{"nothing common beyond the group", data(group, firingA, otherJob), "[FIRING:2] HighLatency "},
		{"two group labels, sorted by name", data(map[string]string{"alertname": "HighLatency", "job": "api"}, firingA, firingB), "[FIRING:2] HighLatency api "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, name := range []string{"email.default.subject", "slack.default.title"} {
				if got := text(t, tmpl, `{{ template "`+name+`" . }}`, tt.d); got != tt.want {
					t.Errorf("%s = %q, want %q", name, got, tt.want)
				}
			}
		})
	}

	d := data(group, firingA, firingB)
	wantLink := "http://klaxon.example/#/alerts?receiver=team-x"
	if got := text(t, tmpl, `{{ template "slack.default.titlelink" . }}`, d); got != wantLink {
		t.Errorf("titlelink = %q", got)
	}
	if got, want := text(t, tmpl, `{{ template "slack.default.fallback" . }}`, d), "[FIRING:2] HighLatency (api) | "+wantLink; got != want {
		t.Errorf("fallback = %q, want %q", got, want)
	}
	if got := text(t, tmpl, `{{ template "slack.default.username" . }}`, d); got != "Klaxon" {
		t.Errorf("username = %q", got)
	}
	for _, empty := range []string{"pretext", "iconemoji", "iconurl", "callbackid", "footer"} {
		if got := text(t, tmpl, `{{ template "slack.default.`+empty+`" . }}`, d); got != "" {
			t.Errorf("slack.default.%s = %q, want empty", empty, got)
		}
	}
	if got := text(t, tmpl, `{{ template "slack.default.color" . }}`, d); got != "danger" {
		t.Errorf("color = %q", got)
	}
	if got := text(t, tmpl, `{{ template "slack.default.color" . }}`, data(group, resolvedB)); got != "good" {
		t.Errorf("resolved color = %q", got)
	}
}

// TestSlackDefaultText: unlike Alertmanager's, the default Slack text shows
// every alert's summary (or its name when it has none).
func TestSlackDefaultText(t *testing.T) {
	tmpl := mustNew(t)
	d := data(map[string]string{"alertname": "DiskFull"},
		mkAlert(map[string]string{"alertname": "DiskFull", "instance": "db-1"}, map[string]string{"summary": "Disk 95% full on db-1"}, time.Time{}),
		mkAlert(map[string]string{"alertname": "DiskFull", "instance": "db-2"}, map[string]string{"description": "no summary here"}, at.Add(-time.Minute)),
		mkAlert(map[string]string{"alertname": "DiskFull"}, nil, time.Time{}),
	)
	got := text(t, tmpl, `{{ template "klaxon.slack.text" . }}`, d)
	want := ":red_circle: *Firing* Disk 95% full on db-1 (db-1)\n" +
		":large_green_circle: *Resolved* no summary here (db-2)\n" +
		":red_circle: *Firing* DiskFull\n"
	if got != want {
		t.Errorf("klaxon.slack.text =\n%s\nwant\n%s", got, want)
	}
}

func TestEmailDefaults(t *testing.T) {
	tmpl := mustNew(t)
	d := data(map[string]string{"alertname": "DiskFull"},
		mkAlert(map[string]string{"alertname": "DiskFull", "instance": "db-1"}, map[string]string{"summary": "<b>full</b> & more"}, time.Time{}),
		mkAlert(map[string]string{"alertname": "DiskFull", "instance": "db-2"}, nil, at.Add(-time.Minute)),
	)
	html, err := tmpl.HTML(`{{ template "email.default.html" . }}`, d)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"<title>[FIRING:1] DiskFull </title>",
		"2 alerts for alertname=DiskFull",
		"[1] Firing", "[1] Resolved",
		"&lt;b&gt;full&lt;/b&gt; &amp; more", // escaped: html/template
		`href="http://klaxon.example/#/alerts?receiver=team-x"`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("email.default.html lacks %q:\n%s", want, html)
		}
	}
	if strings.Contains(html, "<b>full</b>") {
		t.Error("annotation not escaped in HTML")
	}
	txt := text(t, tmpl, `{{ template "email.default.text" . }}`, d)
	for _, want := range []string{"[FIRING:1] DiskFull", "1 firing:", "* <b>full</b> & more", "instance = db-1", "1 resolved:", "Sent by Klaxon"} {
		if !strings.Contains(txt, want) {
			t.Errorf("email.default.text lacks %q:\n%s", want, txt)
		}
	}
}

// TestData: Alertmanager's template data and its methods.
func TestData(t *testing.T) {
	tmpl := mustNew(t)
	d := data(map[string]string{"alertname": "X"},
		mkAlert(map[string]string{"alertname": "X", "job": "api", "zone": "eu"}, map[string]string{"summary": "s"}, time.Time{}),
		mkAlert(map[string]string{"alertname": "X", "job": "api", "zone": "us"}, map[string]string{"summary": "s"}, at.Add(-time.Second)),
	)
	for src, want := range map[string]string{
		`{{ .Receiver }} {{ .Status }} {{ .ExternalURL }} {{ .NotificationReason }}`:      "team-x firing http://klaxon.example first notification",
		`{{ len .Alerts }} {{ len .Alerts.Firing }} {{ len .Alerts.Resolved }}`:           "2 1 1",
		`{{ range .Alerts.Resolved }}{{ .Labels.zone }} {{ .EndsAt.Unix }}{{ end }}`:      "us 1772600766",
		`{{ .CommonLabels.SortedPairs }}`:                                                 "alertname=X, job=api",
		`{{ .CommonLabels.Names }} {{ .CommonLabels.Values }}`:                            "[alertname job] [X api]",
		`{{ (.CommonLabels.Remove .GroupLabels.Names).SortedPairs }}`:                     "job=api",
		`{{ range .CommonLabels.SortedPairs }}{{ .Name }}:{{ .Value }};{{ end }}`:         "alertname:X;job:api;",
		`{{ .CommonAnnotations.summary }}|{{ .CommonLabels.missing }}|`:                   "s||",
		`{{ .GroupLabels.alertname }}`:                                                    "X",
		`{{ (index .Alerts 0).Fingerprint | len }} {{ (index .Alerts 0).StartsAt.Unix }}`: "16 1772595367",
	} {
		if got := text(t, tmpl, src, d); got != want {
			t.Errorf("%s = %q, want %q", src, got, want)
		}
	}
}

func TestFuncs(t *testing.T) {
	tmpl := mustNew(t)
	d := data(map[string]string{"alertname": "X"}, mkAlert(map[string]string{"alertname": "X"}, nil, time.Time{}))
	for src, want := range map[string]string{
		`{{ "MiXed" | toUpper }} {{ "MiXed" | toLower }}`:                     "MIXED mixed",
		`{{ "hello wide world" | title }}`:                                    "Hello Wide World",
		`{{ "  x  " | trimSpace }}`:                                           "x",
		`{{ stringSlice "a" "b" "c" | join ", " }}`:                           "a, b, c",
		`{{ match "^web-[0-9]+$" "web-12" }} {{ match "^db" "web" }}`:         "true false",
		`{{ reReplaceAll "(.+):[0-9]+" "$1" "web-1:9100" }}`:                  "web-1",
		`{{ "a%20b%2Fc" | urlUnescape }}`:                                     "a b/c",
		`{{ date "2006-01-02 15:04" (index .Alerts 0).StartsAt }}`:            "2026-03-04 03:36",
		`{{ (tz "Europe/Paris" (index .Alerts 0).StartsAt).Format "15:04" }}`: "04:36",
		`{{ since (index .Alerts 0).StartsAt }}`:                              "1h30m0s",
		`{{ since (index .Alerts 0).StartsAt | humanizeDuration }}`:           "1h 30m 0s",
		`{{ 3725 | humanizeDuration }}`:                                       "1h 2m 5s",
		`{{ .GroupLabels | toJson }}`:                                         `{"alertname":"X"}`,
		`{{ stringSlice "x" | toJson }}`:                                      `["x"]`,
		`{{ "<b>" }}`:                                                         "<b>", // text: never escaped
	} {
		if got := text(t, tmpl, src, d); got != want {
			t.Errorf("%s = %q, want %q", src, got, want)
		}
	}
	html, err := tmpl.HTML(`{{ "<b>" }} {{ "<i>x</i>" | safeHtml }} <a href="{{ "javascript:x" }}">l</a> <a href="{{ "javascript:y" | safeUrl }}">m</a>`, d)
	if err != nil {
		t.Fatal(err)
	}
	if want := `&lt;b&gt; <i>x</i> <a href="#ZgotmplZ">l</a> <a href="javascript:y">m</a>`; html != want {
		t.Errorf("html = %q, want %q", html, want)
	}
	for _, bad := range []string{`{{ tz "Nowhere/Atlantis" (index .Alerts 0).StartsAt }}`, `{{ reReplaceAll "(" "" "x" }}`, `{{ "x" | humanizeDuration }}`} {
		if _, err := tmpl.Text(bad, d); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	if got := text(t, tmpl, "", d); got != "" {
		t.Errorf("empty template = %q", got)
	}
}

// TestUserFiles: a file from templates: may define new templates and
// redefine the defaults.
func TestUserFiles(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "custom.tmpl")
	if err := os.WriteFile(file, []byte(`{{ define "slack.default.title" }}custom {{ .Status }}{{ end }}{{ define "my.text" }}mine: {{ template "__klaxon" . }}{{ end }}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte("templates: ['*.tmpl']\nroute: {receiver: r}\nreceivers: [{name: r}]\n"), filepath.Join(dir, "klaxon.yml"))
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := FromConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d := data(nil, mkAlert(map[string]string{"alertname": "X"}, nil, time.Time{}))
	if got := text(t, tmpl, `{{ template "slack.default.title" . }} / {{ template "my.text" . }}`, d); got != "custom firing / mine: Klaxon" {
		t.Errorf("got %q", got)
	}
	// The same source renders the same, from the cache.
	if got := text(t, tmpl, `{{ template "slack.default.title" . }} / {{ template "my.text" . }}`, d); got != "custom firing / mine: Klaxon" {
		t.Errorf("cached: got %q", got)
	}
}

func writeConfig(t *testing.T, yml string, files map[string]string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "klaxon.yml")
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

const checkBase = `
templates: ['*.tmpl']
route: {receiver: team}
receivers:
  - name: team
    slack_configs:
      - api_url: https://hooks.slack.example/services/T/B/X
        title: %s
    email_configs:
      - to: oncall@example.com
        from: klaxon@example.com
        smarthost: smtp.example.com:587
        html: %s
        headers: {X-Team: %s}
`

func checkConfig(t *testing.T, title, html, header, file string) error {
	t.Helper()
	q := func(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }
	yml := strings.Replace(checkBase, "%s", q(title), 1)
	yml = strings.Replace(yml, "%s", q(html), 1)
	yml = strings.Replace(yml, "%s", q(header), 1)
	return Check(writeConfig(t, yml, map[string]string{"custom.tmpl": file}))
}

// TestCheck: template errors are found at configuration load, each naming
// the field, not at send time.
func TestCheck(t *testing.T) {
	okFile := `{{ define "custom.title" }}{{ .Status | toUpper }}{{ end }}{{ define "custom.via" }}{{ template "custom.title" . }}{{ end }}{{ define "custom.unused" }}{{ template "nowhere" . }}{{ end }}`
	if err := checkConfig(t, `{{ template "custom.via" . }} {{ template "slack.default.title" . }}`, `{{ template "email.default.html" . }}`, `{{ .CommonLabels.team }}`, okFile); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for _, tt := range []struct {
		name                      string
		title, html, header, file string
		want                      []string
	}{
		{name: "file does not parse", file: `{{ define "x" }}{{ if }}{{ end }}`,
			want: []string{"template file", "custom.tmpl"}},
		{name: "field does not parse", title: `{{ .Status `,
			want: []string{"receivers[0].slack_configs[0].title", "unclosed action"}},
		{name: "undefined template", title: `{{ template "no.such" . }}`,
			want: []string{"receivers[0].slack_configs[0].title", `template not defined: "no.such"`}},
		{name: "undefined on a branch not taken", header: `{{ if eq .Status "nope" }}{{ template "missing.header" . }}{{ end }}`,
			want: []string{"receivers[0].email_configs[0].headers.X-Team", `"missing.header"`}},
		{name: "undefined through a file's template", title: `{{ template "custom.bad" . }}`, file: `{{ define "custom.bad" }}{{ template "gone" . }}{{ end }}`,
			want: []string{`"gone" (referenced from "custom.bad")`}},
		{name: "execution fails", html: `{{ .NoSuchField }}`,
			want: []string{"receivers[0].email_configs[0].html", "NoSuchField"}},
		{name: "bad function argument", title: `{{ reReplaceAll "(" "" .Status }}`,
			want: []string{"receivers[0].slack_configs[0].title", "missing closing )"}},
		{name: "unknown function", header: `{{ .Status | shout }}`,
			want: []string{"headers.X-Team", `function "shout" not defined`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			or := func(s, def string) string {
				if s == "" {
					return def
				}
				return s
			}
			err := checkConfig(t, or(tt.title, "t"), or(tt.html, "h"), or(tt.header, "x"), or(tt.file, okFile))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	err := checkConfig(t, `{{ template "a" . }}`, `{{ template "b" . }}`, "x", okFile)
	if !errors.Is(err, ErrUndefined) || !strings.Contains(err.Error(), `"a"`) || !strings.Contains(err.Error(), `"b"`) {
		t.Errorf("every field's error is reported: %v", err)
	}
}

// TestFields: every templated Slack and e-mail field is checked.
func TestFields(t *testing.T) {
	cfg := writeConfig(t, `
route: {receiver: r}
receivers:
  - name: r
    slack_configs:
      - api_url: https://hooks.slack.example/x
        message_text: m
        fields: [{title: ft, value: fv}]
        actions: [{type: button, text: at, url: au}, {type: button, text: bt, name: bn, confirm: {text: ct}}]
    email_configs:
      - {to: t@example.com, from: f@example.com, smarthost: "h:25", text: tx, headers: {Subject: s}}
`, nil)
	got := map[string]bool{}
	for _, f := range Fields(cfg) {
		got[f.Path] = f.HTML
	}
	for _, want := range []string{
		"receivers[0].slack_configs[0].title", "receivers[0].slack_configs[0].text", "receivers[0].slack_configs[0].fallback",
		"receivers[0].slack_configs[0].message_text", "receivers[0].slack_configs[0].fields[0].value",
		"receivers[0].slack_configs[0].actions[0].url", "receivers[0].slack_configs[0].actions[1].confirm.text",
		"receivers[0].email_configs[0].to", "receivers[0].email_configs[0].text", "receivers[0].email_configs[0].headers.Subject",
	} {
		if _, ok := got[want]; !ok {
			t.Errorf("field %s not listed (have %v)", want, got)
		}
	}
	if !got["receivers[0].email_configs[0].html"] {
		t.Error("email html is not an HTML field")
	}
}

// FuzzText: any template source either fails or renders; none panics.
func FuzzText(f *testing.F) {
	for _, s := range []string{
		`{{ template "slack.default.text" . }}`, `{{ range .Alerts }}{{ .Labels.SortedPairs }}{{ end }}`,
		`{{ define "r" }}{{ template "r" . }}{{ end }}{{ template "r" . }}`, `{{ .Status | toUpper | reReplaceAll "F" "f" }}`,
		`{{ since .Alerts }}`, `{{ tz .Status }}`, `{{`,
	} {
		f.Add(s)
	}
	tmpl, err := New(nil)
	if err != nil {
		f.Fatal(err)
	}
	d := Sample(nil)
	f.Fuzz(func(t *testing.T, src string) {
		_, _ = tmpl.Text(src, d)
		_, _ = tmpl.HTML(src, d)
	})
}
