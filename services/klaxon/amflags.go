package main

import (
	"flag"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/klaxon-alerts/klaxon/pkg/matcher"
	"github.com/klaxon-alerts/klaxon/services/klaxon/app"
)

// clusterFlags are Alertmanager's gossip flags: accepted so that a unit file
// or Helm chart written for Alertmanager runs Klaxon unchanged, and ignored.
var clusterFlags = []string{
	"cluster.listen-address", "cluster.advertise-address", "cluster.peer", "cluster.peer-timeout",
	"cluster.gossip-interval", "cluster.pushpull-interval", "cluster.tcp-timeout", "cluster.probe-timeout",
	"cluster.probe-interval", "cluster.settle-timeout", "cluster.reconnect-interval", "cluster.reconnect-timeout",
	"cluster.tls-config", "cluster.label",
}

// features are the --enable-feature values Klaxon knows: they choose how
// matchers parse (matcher.Mode), as in Alertmanager.
var features = []string{matcher.FeatureUTF8StrictMode, matcher.FeatureClassicMode}

// alertmanagerFlags registers the flags of Alertmanager's command line
// that main's own do not cover. The returned func, called once the flags
// are parsed and the logger built, sets what the flags choose together
// (the matcher mode) and logs what was accepted but is ignored.
func alertmanagerFlags(fs *flag.FlagSet, o *app.Options) func(*slog.Logger) error {
	fs.StringVar(&o.RoutePrefix, "web.route-prefix", "", "Prefix of every HTTP endpoint (API, /metrics, /-/healthy, /-/ready, /-/reload); default: the path of --web.external-url.")
	fs.IntVar(&o.GetConcurrency, "web.get-concurrency", 0, "Maximum number of GET requests to the API processed at once, the others answered 503; 0: GOMAXPROCS, at least 8.")
	fs.DurationVar(&o.APITimeout, "web.timeout", 0, "Timeout of an API request, answered 503 when exceeded; 0: none.")
	fs.DurationVar(&o.MaintenanceInterval, "data.maintenance-interval", 15*time.Minute, "How often expired silences past --data.retention are removed.")
	fs.DurationVar(&o.DispatchStartDelay, "dispatch.start-delay", 0, "No group flushes before this long after the grouper starts (as Alertmanager ≥ 0.29): time for senders to re-send after a restart.")
	fs.Duration("alerts.gc-interval", 30*time.Minute, "Accepted for Alertmanager's command line; no effect: dedup removes every resolved alert on its own timer.")
	var enabled []string
	fs.Func("enable-feature", "Comma-separated Alertmanager feature flags: utf8-strict-mode (matchers parse only with the UTF-8 parser) or classic-mode (only with the classic parser, and label names are [a-zA-Z_][a-zA-Z0-9_]*), as in Alertmanager; others are ignored with a warning.", func(s string) error {
		for f := range strings.SplitSeq(s, ",") {
			if f = strings.TrimSpace(f); f != "" {
				enabled = append(enabled, f)
			}
		}
		return nil
	})
	var cluster []string
	for _, name := range clusterFlags {
		fs.Func(name, "Alertmanager gossip flag: accepted and ignored (Klaxon replicas share state through NATS JetStream).", func(string) error {
			cluster = append(cluster, name)
			return nil
		})
	}
	fs.BoolFunc("cluster.allow-insecure-public-advertise-address-discovery", "Alertmanager gossip flag: accepted and ignored.", func(string) error {
		cluster = append(cluster, "cluster.allow-insecure-public-advertise-address-discovery")
		return nil
	})
	return func(log *slog.Logger) error {
		mode, err := matcher.ModeOf(enabled)
		if err != nil {
			return fmt.Errorf("--enable-feature: %w", err)
		}
		o.Matchers = mode
		if mode != matcher.Fallback {
			log.Info("matchers parse in "+mode.String(), "feature", mode.String())
		}
		if len(cluster) > 0 {
			log.Warn("--cluster.* flags ignored: Klaxon has no gossip; its replicas share alerts, silences and the notification log through NATS JetStream, so run every replica against the same NATS (--nats.url)",
				"flags", slices.Compact(cluster))
		}
		for _, f := range enabled {
			if !slices.Contains(features, f) {
				log.Warn("unknown feature flag ignored", "feature", f, "known", features)
			}
		}
		return nil
	}
}
