package load

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	// requestTimeout bounds one POST.
	requestTimeout = 10 * time.Second
	// probeTimeout bounds the wait for the probe alert's webhook.
	probeTimeout = 20 * time.Second
	// pollEvery is how often a wait checks its condition.
	pollEvery = 20 * time.Millisecond
)

// ErrProbe is returned when the probe alert sent before the load does not
// reach the webhook sink: the target is down or not configured to notify the
// sink (see Config).
var ErrProbe = errors.New("probe alert not notified")

// Run runs the load described by o and writes the report to stdout: against
// o.Target, or, with o.Compare, against Klaxon and Alertmanager started as
// child processes.
func Run(ctx context.Context, o Options, stdout io.Writer) error {
	o = o.WithDefaults()
	if err := o.Validate(); err != nil {
		return err
	}
	if o.Compare {
		return runCompare(ctx, o, stdout)
	}
	run := newRunID()
	s, err := startSink(o.SinkAddress, run+"-", time.Now)
	if err != nil {
		return err
	}
	res, err := loadTarget(ctx, o, "target", o.Target, run, s, nil)
	err = errors.Join(err, s.close())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "klaxon bench: %s\n", describeLoad(o))
	fmt.Fprintf(stdout, "target %s, webhook sink %s\n\n", o.Target, s.URL())
	return report(stdout, o, []Result{res})
}

// newRunID returns a random id that prefixes every bench_id of one run, so a
// long-lived target's notifications of earlier runs are not counted.
func newRunID() string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return "b" + hex.EncodeToString(b[:])
}

// loadTarget runs the load against the API at base: a probe alert first
// (to know the pipeline notifies the sink), the warm-up if o.Warmup, then
// the paced load, then a wait of up to o.Drain for the webhooks still owed.
// run is the bench_id prefix the sink s was started with; cpu, if set,
// reads the target's CPU time.
func loadTarget(ctx context.Context, o Options, name, base, run string, s *sink, cpu func() (time.Duration, bool)) (Result, error) {
	log := o.Logger.With("target", name)
	client := &http.Client{
		Timeout: requestTimeout,
		Transport: &http.Transport{
			MaxIdleConnsPerHost: o.Senders,
			DisableCompression:  true,
		},
	}
	defer client.CloseIdleConnections()
	url := strings.TrimRight(base, "/") + "/api/v2/alerts"

	log.Info("probe")
	if err := probe(ctx, client, url, run, s); err != nil {
		return Result{}, fmt.Errorf("%s: %w", name, err)
	}

	gen := newGenerator(run, o.Active, o.Churn)
	rec := newE2ERecorder()
	if o.Warmup {
		log.Info("warm-up", "alerts", o.Active)
		warm, err := warmUp(ctx, o, client, base, url, gen, s)
		if err != nil {
			return Result{}, fmt.Errorf("%s: warm-up: %w", name, err)
		}
		rec.carry(warm)
	}
	s.use(rec)
	before, counted := processed(ctx, client, base)
	lateBefore, _ := readHistogram(ctx, client, base, latenessMetric)
	var cpuBefore time.Duration
	if cpu != nil {
		cpuBefore, _ = cpu()
	}
	log.Info("load", "rate", o.Rate, "active", o.Active, "duration", o.Duration)
	start := time.Now()
	var sampler processedSampler
	sampling, stopSampling := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { sampler.run(sampling, client, base, name, start, rec, o.Progress) })
	defer func() { stopSampling(); wg.Wait() }()
	res, err := offer(ctx, o, client, url, gen, rec)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", name, err)
	}
	res.Name, res.Target = name, base
	res.AlertsProcessed = res.AlertsAccepted // a target that processes as it answers
	if after, ok := processed(ctx, client, base); counted && ok {
		res.AlertsProcessed = int(after - before)
	}

	log.Info("drain", "max", o.Drain)
	deadline := time.Now().Add(o.Drain)
	err = pollUntil(ctx, deadline, func() bool {
		exp, got := rec.counts()
		return got >= exp
	})
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return Result{}, err
	}
	if cpu != nil {
		if cpuAfter, ok := cpu(); ok {
			res.LoadCPU = cpuAfter - cpuBefore
		}
	}
	res.ProcessedByDrain = res.AlertsAccepted
	if after, ok := processed(ctx, client, base); counted && ok {
		res.ProcessedByDrain = int(after - before)
	}
	if h, ok := readHistogram(ctx, client, base, latenessMetric); ok {
		h = h.since(lateBefore)
		res.Lateness, res.LatenessOK = [2]time.Duration{h.quantile(.5), h.quantile(.99)}, true
	}
	res.E2EExpected, res.E2EReceived = rec.counts()
	res.E2E = rec.latencies()
	if last := rec.lastArrival(); last.After(start) {
		res.FirstNotifiedRate = float64(len(res.E2E)) / last.Sub(start).Seconds()
	}
	res.FlushSpacing = rec.spacing(groupInterval)
	stopSampling()
	wg.Wait()
	res.Series = seconds(start, time.Now(), rec, sampler.samples)
	return res, nil
}

// warmUpTimeout bounds the wait for the target to process the warm-up.
const warmUpTimeout = 5 * time.Minute

// warmUp posts the active set once, as fast as the senders go, and waits
// until the target processed it and, for up to o.Drain, notified it. It
// returns the recorder of the alerts it posted.
func warmUp(ctx context.Context, o Options, client *http.Client, base, url string, gen *generator, s *sink) (*e2eRecorder, error) {
	rec := newE2ERecorder()
	s.use(rec)
	before, counted := processed(ctx, client, base)
	if err := postAll(ctx, o, client, url, gen, rec); err != nil {
		return nil, err
	}
	posted, _ := rec.progress()
	if counted {
		err := pollUntil(ctx, time.Now().Add(warmUpTimeout), func() bool {
			n, _ := processed(ctx, client, base)
			return n-before >= float64(posted)
		})
		if err != nil {
			return nil, fmt.Errorf("not processed within %v: %w", warmUpTimeout, err)
		}
	}
	err := pollUntil(ctx, time.Now().Add(o.Drain), func() bool {
		exp, got := rec.counts()
		return got >= exp
	})
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return nil, err
	}
	return rec, nil
}

// probe posts one alert until it is accepted and waits for its webhook.
func probe(ctx context.Context, client *http.Client, url, run string, s *sink) error {
	rec := newE2ERecorder()
	s.use(rec)
	g := newGenerator(run, 1, 0)
	g.slots[0].seq = -1 // bench_id <run>--1: not one of the load's alerts
	deadline := time.Now().Add(probeTimeout)
	var lastErr error
	err := pollUntil(ctx, deadline, func() bool {
		body, ids, err := g.batch(1, time.Now())
		if err != nil {
			lastErr = err
			return false
		}
		rec.posted(ids, time.Now())
		status, _ := post(ctx, client, url, body)
		if status != "200" {
			lastErr = fmt.Errorf("POST %s: %s", url, status)
			return false
		}
		rec.accepted(ids, time.Now())
		return true
	})
	if err != nil {
		return fmt.Errorf("%w: %w (last: %v)", ErrProbe, err, lastErr)
	}
	id := g.id(-1)
	if err := pollUntil(ctx, deadline, func() bool { return rec.seen(id) }); err != nil {
		return fmt.Errorf("%w: accepted but no webhook reached %s within %v: %w", ErrProbe, s.URL(), probeTimeout, err)
	}
	return nil
}

// postAll posts the next o.Active alerts of gen in batches, closed loop:
// each sender posts its batch until it is accepted (a target that sheds
// load answers 429 or 503 for a while).
func postAll(ctx context.Context, o Options, client *http.Client, url string, gen *generator, rec *e2eRecorder) error {
	const tries, pause = 100, 100 * time.Millisecond
	work := make(chan batch)
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for range o.Senders {
		wg.Go(func() {
			for b := range work {
				rec.posted(b.ids, time.Now())
				status := ""
				for range tries {
					if status, _ = post(ctx, client, url, b.body); status == "200" || ctx.Err() != nil {
						break
					}
					time.Sleep(pause) // the target asked for less: a pause, not a wait for work
				}
				if status != "200" {
					mu.Lock()
					errs = append(errs, fmt.Errorf("a batch of %d not accepted after %d tries: %s", len(b.ids), tries, status))
					mu.Unlock()
					continue
				}
				rec.accepted(b.ids, time.Now())
			}
		})
	}
	var genErr error
	for left := o.Active; left > 0 && ctx.Err() == nil; {
		n := min(o.BatchSize, left)
		left -= n
		body, ids, err := gen.batch(n, time.Now())
		if err != nil {
			genErr = err
			break
		}
		work <- batch{body: body, ids: ids}
	}
	close(work)
	wg.Wait()
	return errors.Join(genErr, ctx.Err(), errors.Join(errs...))
}

// batch is one POST's worth of alerts.
type batch struct {
	body []byte
	ids  []string
}

// offer sends o.Rate alerts/s for o.Duration: a pacer builds a batch on
// schedule and queues it for the senders, or counts it skipped when the
// queue is full (open loop: a slow target does not slow the schedule, it
// shows as skipped alerts and a lower accepted rate).
func offer(ctx context.Context, o Options, client *http.Client, url string, gen *generator, rec *e2eRecorder) (Result, error) {
	size := min(o.BatchSize, max(1, int(o.Rate))) // at least one batch a second
	interval := time.Duration(float64(size) / o.Rate * float64(time.Second))
	total := int(math.Ceil(o.Rate * o.Duration.Seconds()))

	var stats requestStats
	// A queue of one batch per sender, as Prometheus queues alerts for its
	// senders; a batch due when it is full is skipped.
	work := make(chan batch, o.Senders)
	var wg sync.WaitGroup
	for range o.Senders {
		wg.Go(func() {
			for b := range work {
				rec.posted(b.ids, time.Now())
				status, d := post(ctx, client, url, b.body)
				if status == "200" {
					rec.accepted(b.ids, time.Now())
				}
				stats.add(status, len(b.ids), d)
			}
		})
	}

	start := time.Now()
	skipped := 0
	var genErr error
	timer := time.NewTimer(0)
	defer timer.Stop()
pace:
	for k, emitted := 0, 0; emitted < total; k++ {
		timer.Reset(time.Until(start.Add(time.Duration(k) * interval)))
		select {
		case <-ctx.Done():
			break pace
		case <-timer.C:
		}
		n := min(size, total-emitted)
		emitted += n
		body, ids, err := gen.batch(n, time.Now())
		if err != nil {
			genErr = err
			break pace
		}
		select {
		case work <- batch{body: body, ids: ids}:
		default:
			skipped += n
		}
	}
	close(work)
	wg.Wait()
	// Each batch stands for one interval of the schedule, so the load
	// phase lasts at least o.Duration even though the last batch starts
	// one interval before its end.
	elapsed := max(time.Since(start), o.Duration)
	if err := errors.Join(genErr, ctx.Err()); err != nil {
		return Result{}, err
	}

	stats.mu.Lock()
	defer stats.mu.Unlock()
	return Result{
		Elapsed:        elapsed,
		Requests:       stats.requests,
		AlertsSent:     stats.sent,
		AlertsAccepted: stats.accepted,
		AlertsSkipped:  skipped,
		Status:         stats.status,
		HTTP:           stats.http,
	}, nil
}

// post sends one batch and returns the status code ("error" when no
// response came) and how long the request took, body read included.
func post(ctx context.Context, client *http.Client, url string, body []byte) (string, time.Duration) {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "error", 0
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return "error", time.Since(start)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return strconv.Itoa(resp.StatusCode), time.Since(start)
}

// pollUntil calls cond every pollEvery until it returns true, ctx ends or
// the deadline passes (context.DeadlineExceeded).
func pollUntil(ctx context.Context, deadline time.Time, cond func() bool) error {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		if cond() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// report writes the table, and the plot when o.Plot names a file.
func report(stdout io.Writer, o Options, results []Result) error {
	if err := writeTable(stdout, results); err != nil {
		return err
	}
	if o.Plot == "" {
		return nil
	}
	f, err := os.Create(o.Plot)
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if err := errors.Join(WritePlot(f, results), f.Close()); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	fmt.Fprintf(stdout, "\nplot: %s\n", o.Plot)
	return nil
}
