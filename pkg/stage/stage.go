// Package stage holds what every pipeline stage is built from: each stage's
// Options embeds one Deps, which the binary builds once for all the stages
// it runs.
package stage

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/config"
)

// Deps are a stage's dependencies.
type Deps struct {
	JS jetstream.JetStream
	// Config returns the running config; stages call it per message, so a
	// reload takes effect at the next one.
	Config     func() *config.Config
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: metrics are not exported
	Now        func() time.Time
	// Pool, when set, is shared by every holder of alerts in the process
	// (alert.Pool); it is set where the watched copy of klaxon-alerts runs,
	// which makes the pool forget the alerts that are gone.
	Pool *alert.Pool
}

// Resolve checks the dependencies stage name requires and fills the
// defaults: a discarding logger, time.Now. The logger is tagged with the
// stage's name.
func (d Deps) Resolve(name string) (Deps, error) {
	if d.JS == nil || d.Config == nil {
		return d, fmt.Errorf("%s: JS and Config are required", name)
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	d.Logger = d.Logger.With("component", name)
	if d.Now == nil {
		d.Now = time.Now
	}
	return d, nil
}

// Register registers the stage's collectors, when metrics are exported.
func (d Deps) Register(cs ...prometheus.Collector) error {
	if d.Registerer == nil {
		return nil
	}
	for _, c := range cs {
		if err := d.Registerer.Register(c); err != nil {
			return fmt.Errorf("register metrics: %w", err)
		}
	}
	return nil
}
