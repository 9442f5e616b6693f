// Package version is this binary's build: its version, VCS revision and Go
// version, from the build information Go records (no -ldflags needed), for
// /api/v2/status and the build_info metrics.
package version

import (
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Release is Klaxon's version when the module's own is not known: a binary
// built from a checkout (go build, go run) reports "(devel)" or a
// pseudo-version, which tools reading Alertmanager's version (amtool,
// karma) cannot use.
const Release = "0.1.0"

// Alertmanager is the Alertmanager release whose API, configuration and
// tools Klaxon is checked against side by side (test/conformance, the
// amtool in CI). /api/v2/status and alertmanager_build_info report it as
// the version, so amtool (which warns when its major.minor differs from the
// server's) and dashboards keyed on Alertmanager's version see the
// Alertmanager Klaxon stands in for; Klaxon's own version is in
// klaxon_build_info and in the status' branch field.
const Alertmanager = "0.25.0"

// Info is a build, as Alertmanager's versionInfo names its parts.
type Info struct {
	Version, Revision, Branch, BuildUser, BuildDate, GoVersion string
}

// Get returns this binary's build.
func Get() Info {
	v := Info{Version: Release, Revision: "unknown", Branch: "unknown", BuildUser: "unknown", BuildDate: "unknown", GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if m := bi.Main.Version; m != "" && m != "(devel)" && !strings.HasPrefix(m, "v0.0.0-") {
		v.Version = strings.TrimSuffix(strings.TrimPrefix(m, "v"), "+dirty")
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.BuildDate = s.Value
		}
	}
	return v
}

// AsAlertmanager is the build as Alertmanager's tools read it: the version
// is Alertmanager's that Klaxon stands in for, the branch names Klaxon's
// own version.
func AsAlertmanager() Info {
	v := Get()
	v.Version, v.Branch = Alertmanager, "klaxon-"+v.Version
	return v
}

// Collectors returns klaxon_build_info (Klaxon's version) and
// alertmanager_build_info (AsAlertmanager; karma reads it): constant 1,
// labelled with the build.
func Collectors() []prometheus.Collector {
	var out []prometheus.Collector
	for prefix, v := range map[string]Info{"klaxon": Get(), "alertmanager": AsAlertmanager()} {
		g := prometheus.NewGauge(prometheus.GaugeOpts{
			Name: prefix + "_build_info",
			Help: "A metric with a constant '1' value labeled by version, revision, branch, goversion from which " + prefix + " was built, and the goos and goarch for the build.",
			ConstLabels: prometheus.Labels{
				"version": v.Version, "revision": v.Revision, "branch": v.Branch,
				"goversion": v.GoVersion, "goos": runtime.GOOS, "goarch": runtime.GOARCH, "tags": "unknown",
			},
		})
		g.Set(1)
		out = append(out, g)
	}
	return out
}
