package version_test

import (
	"regexp"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/klaxon-alerts/klaxon/pkg/version"
)

// A test binary is built from a checkout, as go run is: its module version
// is "(devel)", which amtool cannot compare; Get falls back to Release.
func TestVersionsAreSemver(t *testing.T) {
	v := version.Get()
	if v.Version != version.Release || !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(v.Version) {
		t.Errorf("Get().Version = %q, want %q", v.Version, version.Release)
	}
	am := version.AsAlertmanager()
	if am.Version != version.Alertmanager || am.Branch != "klaxon-"+version.Release || am.GoVersion == "" {
		t.Errorf("AsAlertmanager() = %+v", am)
	}
}

func TestBuildInfo(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(version.Collectors()...)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	versions := map[string]string{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "version" {
					versions[mf.GetName()] = l.GetValue()
				}
			}
			if m.GetGauge().GetValue() != 1 {
				t.Errorf("%s = %v, want 1", mf.GetName(), m.GetGauge().GetValue())
			}
		}
	}
	if versions["alertmanager_build_info"] != version.Alertmanager || versions["klaxon_build_info"] != version.Release {
		t.Errorf("build_info versions = %v", versions)
	}
}
