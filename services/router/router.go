// Package router is the router stage: for each AlertChanged on
// klaxon.alerts.changed it walks the route tree of the running config
// (Alertmanager's semantics, pkg/route) and publishes one AlertRouted per
// matched route on klaxon.alerts.routed, carrying the receiver, the group key
// and the route's timings, so the grouper needs no route tree of its own.
package router

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/klaxon-alerts/klaxon/pkg/bus"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/fault"
	"github.com/klaxon-alerts/klaxon/pkg/route"
	"github.com/klaxon-alerts/klaxon/pkg/stage"
)

// Options configures the router stage.
type Options struct {
	stage.Deps
}

// Router is the router stage.
type Router struct {
	opts   Options
	log    *slog.Logger
	pub    *bus.Publisher
	routed prometheus.Counter
	trees  route.Memo
}

// New builds the stage; Run starts it.
func New(opts Options) (*Router, error) {
	deps, err := opts.Resolve(contract.StageRouter)
	if err != nil {
		return nil, err
	}
	opts.Deps = deps
	log := opts.Logger
	routed := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "klaxon_router_routed_total", Help: "Routing decisions published (one per matched route).",
	})
	if err := opts.Register(routed); err != nil {
		return nil, err
	}
	return &Router{opts: opts, log: log, pub: bus.NewPublisher(opts.JS, log), routed: routed}, nil
}

// Run consumes klaxon.alerts.changed until ctx is done.
func (r *Router) Run(ctx context.Context) error {
	return r.opts.Run(ctx, contract.StageRouter, r.pub, stage.Consumer{
		Name: contract.StageRouter, Subject: contract.SubjectAlertsChanged,
		Subscriber: stage.Durable(contract.StreamAlerts, contract.ConsumerRouter).WithConcurrency(64), // stateless: only publish round trips
		Handle:     r.handle,
	})
}

func (r *Router) handle(msg *message.Message) error {
	// The message ids derive from the payload, so the raw message is kept.
	ev, err := contract.Decode[contract.AlertChanged](msg.Payload)
	if err != nil {
		return err
	}
	tree, err := r.tree()
	if err != nil {
		return err
	}
	routes := tree.Routes(ev.Alert.Labels)
	out := make([]*nats.Msg, 0, len(routes))
	for _, rt := range routes {
		body, err := json.Marshal(contract.AlertRouted{
			Version: contract.Version, Change: ev.Change, Fingerprint: ev.Fingerprint, Alert: ev.Alert, Route: rt,
		})
		if err != nil {
			return fault.Final(err)
		}
		sum := sha256.Sum256(append([]byte(rt.ID+"\x00"), msg.Payload...))
		m := nats.NewMsg(contract.AlertsRoutedSubject(contract.PartitionOf(contract.GroupID(rt.ID, rt.GroupKey))))
		m.Data = body
		m.Header.Set(jetstream.MsgIDHeader, "rt-"+hex.EncodeToString(sum[:16]))
		out = append(out, m)
	}
	if err := r.pub.PublishMsgs(msg.Context(), out...); err != nil {
		return fmt.Errorf("publish routed: %w", err)
	}
	r.routed.Add(float64(len(out)))
	return nil
}

// tree returns the route tree of the running config, built once per config.
func (r *Router) tree() (*route.Tree, error) {
	t, err := r.trees.Tree(r.opts.Config())
	if err != nil {
		return nil, fault.Final(fmt.Errorf("route tree: %w", err))
	}
	return t, nil
}
