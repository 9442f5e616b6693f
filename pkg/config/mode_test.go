package config_test

import (
	"errors"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/matcher"
	"github.com/klaxon-alerts/klaxon/pkg/testfile"
	"github.com/klaxon-alerts/klaxon/test/harness"
)

// modeConfigs are configurations whose verdict depends on the matcher mode,
// with the verdict of each mode: fallback (Alertmanager's default),
// utf8-strict-mode and classic-mode. The classic mode is Alertmanager
// 0.25's only one, so amtool 0.25 is its oracle.
var modeConfigs = []struct {
	name, yaml                string
	fallback, strict, classic bool
}{
	{"plain matchers", `matchers: ['team="db"', 'env=~"prod|staging"']`, true, true, true},
	{"unquoted value with a space", `matchers: ['team=db ops']`, true, false, true},
	{"backslash no Go escape", `matchers: ['code=~"5\d\d"']`, true, false, true},
	{"two matchers in one string", `matchers: ['team=db, env=prod']`, true, true, true},
	{"quoted UTF-8 name", `matchers: ['"service.name"=api']`, true, true, false},
	{"non-ASCII name", `matchers: ['équipe=db']`, true, true, false},
	{"group_by a dotted name", `group_by: [service.name]`, true, true, false},
	{"group_by a classic name", `group_by: [service_name, alertname]`, true, true, true},
	{"inhibit equal a dotted name", "inhibit", true, true, false},
}

func modeConfig(route string) string {
	if route == "inhibit" {
		return "route:\n  receiver: r\nreceivers:\n  - name: r\ninhibit_rules:\n  - source_matchers: [a=b]\n    target_matchers: [c=d]\n    equal: [service.name]\n"
	}
	return "route:\n  receiver: r\n  routes:\n    - receiver: r\n      " + route + "\nreceivers:\n  - name: r\n"
}

// Each mode accepts and refuses what Alertmanager's does in it; in the
// classic mode, exactly what amtool 0.25 accepts and refuses.
func TestMatcherModes(t *testing.T) {
	for _, tc := range modeConfigs {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(modeConfig(tc.yaml))
			for _, m := range []struct {
				mode matcher.Mode
				want bool
			}{{matcher.Fallback, tc.fallback}, {matcher.UTF8Strict, tc.strict}, {matcher.Classic, tc.classic}} {
				_, err := config.Parser{Matchers: m.mode}.Parse(data, "alertmanager.yml")
				if (err == nil) != m.want {
					t.Errorf("%s: err %v, want ok=%v", m.mode, err, m.want)
				}
			}
		})
	}
}

func TestClassicModeAgreesWithAmtool025(t *testing.T) {
	amtool := harness.RequireE2E(t, "amtool")
	for _, tc := range modeConfigs {
		t.Run(tc.name, func(t *testing.T) {
			file := testfile.Write(t, "alertmanager.yml", modeConfig(tc.yaml))
			out, err := exec.CommandContext(t.Context(), amtool, "check-config", file).CombinedOutput()
			var exit *exec.ExitError
			if err != nil && !errors.As(err, &exit) {
				t.Fatal(err)
			}
			_, kerr := config.Parser{Matchers: matcher.Classic}.Load(filepath.Clean(file))
			if (err == nil) != (kerr == nil) {
				t.Errorf("amtool ok=%v:\n%s\nklaxon in classic-mode ok=%v: %v", err == nil, out, kerr == nil, kerr)
			}
		})
	}
}
