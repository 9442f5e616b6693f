// Package ingest is the ingest stage: the write path of Alertmanager's HTTP
// API v2 in front of JetStream. (The read and silence endpoints are package
// services/api.)
//
// POST /api/v2/alerts takes what Prometheus sends, validates each
// alert as Alertmanager does, and answers 200 only once JetStream has
// acknowledged every valid alert on klaxon.alerts.in. Invalid alerts get a
// 400 naming the alert and the field (the valid ones of the same request are
// still stored); a full input stream answers 429 and an unreachable NATS 503,
// both with Retry-After: nothing is ever acknowledged that was not stored.
package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/bus"
	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/matcher"
	"github.com/klaxon-alerts/klaxon/pkg/route"
)

// Defaults.
const (
	DefaultMaxBodyBytes   = 4 << 20
	DefaultPublishTimeout = 5 * time.Second
	retryAfterSeconds     = 5
)

// Options configures the ingest stage.
type Options struct {
	JS         jetstream.JetStream
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
	// MaxBodyBytes bounds a request body; larger ones get 413.
	MaxBodyBytes int64
	// MaxAlertBytes bounds one alert's JSON; a larger alert is refused (400,
	// naming the limit). Default: alert.SizeLimit of the NATS server's
	// max_payload, so that whatever is accepted can be stored end to end.
	MaxAlertBytes int
	// PublishTimeout bounds the wait for JetStream's acknowledgements.
	PublishTimeout time.Duration
	// ResolveTimeout is the configuration's global resolve_timeout (an
	// alert posted without endsAt ends that long after its receipt);
	// default the configuration's default.
	ResolveTimeout func() time.Duration
	// Mode is the --enable-feature matcher mode; in classic mode an alert's
	// label names follow the classic rules, as Alertmanager's do.
	Mode matcher.Mode
}

// Ingest is the ingest stage's HTTP API.
type Ingest struct {
	opts     Options
	log      *slog.Logger
	pub      *bus.Publisher
	alerts   *prometheus.CounterVec
	requests *prometheus.CounterVec
	latency  prometheus.Histogram
	// Alertmanager's names (api/metrics): every alert received, by status,
	// and the invalid ones, of API version v2.
	received *prometheus.CounterVec
	invalid  prometheus.Counter
	started  time.Time

	trees route.Memo
}

// New builds the API; mount it with Register.
func New(opts Options) (*Ingest, error) {
	if opts.JS == nil {
		return nil, errors.New("ingest: JS is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.ResolveTimeout == nil {
		d := time.Duration(config.DefaultGlobalConfig().ResolveTimeout)
		opts.ResolveTimeout = func() time.Duration { return d }
	}
	if opts.PublishTimeout <= 0 {
		opts.PublishTimeout = DefaultPublishTimeout
	}
	log := opts.Logger.With("component", contract.StageIngest)
	in := &Ingest{
		opts: opts, log: log,
		pub: bus.NewPublisher(opts.JS, log, bus.WithPublishTimeout(opts.PublishTimeout)),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "klaxon_ingest_alerts_total", Help: "Alerts received over HTTP, by outcome (stored, invalid, rejected).",
		}, []string{"outcome"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "klaxon_ingest_requests_total", Help: "POST /api/v2/alerts requests by status code.",
		}, []string{"code"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "klaxon_ingest_publish_seconds", Help: "Time to store a request's alerts in JetStream.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
	}
	received := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "alertmanager_alerts_received_total", Help: "The total number of received alerts.",
	}, []string{"status", "version"})
	invalid := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "alertmanager_alerts_invalid_total", Help: "The total number of received alerts that were invalid.",
	}, []string{"version"})
	in.received = received.MustCurryWith(prometheus.Labels{"version": apiVersion})
	in.received.WithLabelValues(statusFiring)
	in.received.WithLabelValues(statusResolved)
	in.invalid = invalid.WithLabelValues(apiVersion)
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{in.alerts, in.requests, in.latency, received, invalid} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("ingest metrics: %w", err)
			}
		}
	}
	return in, nil
}

// Register mounts the API on mux.
func (in *Ingest) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v2/alerts", in.postAlerts)
}

// Ready reports whether ingest can store alerts now.
func (in *Ingest) Ready() error {
	if s := in.opts.JS.Conn().Status(); s != nats.CONNECTED {
		return fmt.Errorf("nats connection %s", s)
	}
	return nil
}

func (in *Ingest) postAlerts(w http.ResponseWriter, r *http.Request) {
	code, msg := in.store(r)
	in.requests.WithLabelValues(strconv.Itoa(code)).Inc()
	if code == http.StatusOK {
		w.WriteHeader(code)
		return
	}
	if code == http.StatusServiceUnavailable || code == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	// Alertmanager answers errors with a JSON string.
	_ = json.NewEncoder(w).Encode(msg)
}

// store validates and stores one request's alerts; it returns the status
// code and, for errors, the message.
func (in *Ingest) store(r *http.Request) (int, string) {
	if err := in.Ready(); err != nil {
		in.log.Warn("alerts refused: NATS unavailable", "err", err)
		return http.StatusServiceUnavailable, "alerts not stored: " + err.Error()
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, in.opts.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", tooLarge.Limit)
		}
		return http.StatusBadRequest, "request body not read: " + err.Error()
	}
	// Each valid alert is passed on as posted (its text): dedup decodes
	// it as ingest did.
	postables, texts, err := alert.DecodeArray(body)
	if err != nil {
		return http.StatusBadRequest, "malformed alerts: expected a JSON array of alerts: " + err.Error()
	}
	now := in.opts.Now()
	var invalid []string
	limit := in.opts.MaxAlertBytes
	if limit <= 0 {
		limit = alert.SizeLimit(in.opts.JS.Conn().MaxPayload())
	}
	var batch batcher
	resolveTimeout := in.opts.ResolveTimeout()
	for i, p := range postables {
		in.countReceived(p, now)
		if err := in.validate(p, now, resolveTimeout); err != nil {
			invalid = append(invalid, fmt.Sprintf("alert %d %s: %v", i, alert.Describe(p.Labels), err))
			continue
		}
		if err := alert.CheckSize(texts[i], limit); err != nil {
			invalid = append(invalid, fmt.Sprintf("alert %d %s: %v", i, alert.Describe(p.Labels), err))
			continue
		}
		batch.add(contract.PartitionOf(p.Fingerprint().String()), texts[i], 2*limit)
	}
	in.alerts.WithLabelValues("invalid").Add(float64(len(invalid)))
	in.invalid.Add(float64(len(invalid)))
	if msgs := batch.messages(now); len(msgs) > 0 {
		start := time.Now()
		err := in.pub.PublishMsgs(context.WithoutCancel(r.Context()), msgs...)
		in.latency.Observe(time.Since(start).Seconds())
		if err != nil {
			in.alerts.WithLabelValues("rejected").Add(float64(batch.alerts))
			if errors.Is(err, bus.ErrStreamFull) {
				in.log.Warn("alerts refused: input stream full", "alerts", batch.alerts)
				return http.StatusTooManyRequests, "alerts not stored: input stream full, retry later"
			}
			in.log.Error("alerts not stored", "alerts", batch.alerts, "err", err)
			return http.StatusServiceUnavailable, "alerts not stored: " + err.Error()
		}
		in.alerts.WithLabelValues("stored").Add(float64(batch.alerts))
	}
	if len(invalid) > 0 {
		return http.StatusBadRequest, describeInvalid(invalid)
	}
	return http.StatusOK, ""
}

// validate checks an alert as Alertmanager does on receipt, its label
// names by the rules of the matcher mode.
func (in *Ingest) validate(p alert.Postable, now time.Time, resolveTimeout time.Duration) error {
	if err := p.Validate(now, resolveTimeout); err != nil {
		return err
	}
	for name, value := range p.Labels {
		if value != "" && !in.opts.Mode.ValidLabelName(name) {
			return fmt.Errorf("labels: %w %q (%s)", alert.ErrLabelName, name, in.opts.Mode)
		}
	}
	return nil
}

// maxBatchAlerts bounds the alerts of one input message, so that dedup works
// on a large request's batches in parallel.
const maxBatchAlerts = 64

// batcher packs a request's valid alerts into input messages, one per
// partition (contract.PartitionOf the fingerprint) and at most
// maxBatchAlerts alerts and (beyond a single alert) maxBytes bytes: JSON
// arrays, as Alertmanager's postableAlerts. A Prometheus POST of 64 alerts
// is a few publishes, awaited together.
type batcher struct {
	parts  map[int][][]byte // partition → its batches
	count  map[int]int      // partition → alerts in its last batch
	alerts int
}

func (b *batcher) add(partition int, alertJSON []byte, maxBytes int) {
	if b.parts == nil {
		b.parts, b.count = map[int][][]byte{}, map[int]int{}
	}
	batches := b.parts[partition]
	last := len(batches) - 1
	if last < 0 || b.count[partition] == maxBatchAlerts || len(batches[last])+len(alertJSON)+2 > maxBytes {
		batches = append(batches, []byte{'['})
		b.count[partition] = 0
		last++
	}
	if b.count[partition] > 0 {
		batches[last] = append(batches[last], ',')
	}
	batches[last] = append(batches[last], alertJSON...)
	b.parts[partition] = batches
	b.count[partition]++
	b.alerts++
}

// messages closes the batches and returns them as messages to their
// partitions' subjects, stamped with the time of receipt.
func (b *batcher) messages(receivedAt time.Time) []*nats.Msg {
	var msgs []*nats.Msg
	at := receivedAt.UTC().Format(time.RFC3339Nano)
	for p, batches := range b.parts {
		for _, batch := range batches {
			m := nats.NewMsg(contract.AlertsInSubject(p))
			m.Data = append(batch, ']')
			m.Header.Set(contract.HeaderReceivedAt, at)
			msgs = append(msgs, m)
		}
	}
	return msgs
}

// The labels of alertmanager_alerts_received_total.
const (
	apiVersion     = "v2"
	statusFiring   = "firing"
	statusResolved = "resolved"
)

// countReceived counts an alert as Alertmanager does: resolved when it
// ends before now, firing otherwise.
func (in *Ingest) countReceived(p alert.Postable, now time.Time) {
	status := statusFiring
	if !p.EndsAt.IsZero() && !p.EndsAt.After(now) {
		status = statusResolved
	}
	in.received.WithLabelValues(status).Inc()
}

// maxNamedInvalid bounds how many invalid alerts a 400 answer names, so that
// the answer to a large bad request stays small.
const maxNamedInvalid = 20

// describeInvalid is the 400 answer's text: the first invalid alerts, each
// with its reason, and how many more there were.
func describeInvalid(invalid []string) string {
	if len(invalid) <= maxNamedInvalid {
		return strings.Join(invalid, "; ")
	}
	return strings.Join(invalid[:maxNamedInvalid], "; ") + fmt.Sprintf("; and %d more invalid alerts", len(invalid)-maxNamedInvalid)
}
