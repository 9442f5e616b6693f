package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/klaxon-alerts/klaxon/test/load"
)

const benchUsage = `Usage: klaxon bench [flags]

Posts Prometheus-shaped alert batches to an Alertmanager-compatible API at a
given rate and active-set size, runs a webhook sink, and prints accepted
alerts/s, HTTP p50/p99 and end-to-end (POST → webhook) p50/p99.

  klaxon bench --target http://127.0.0.1:9093 --sink.listen-address 127.0.0.1:9095
      loads a running target; its config must notify the sink
      (klaxon bench --print-config prints a suitable one).
  klaxon bench --compare
      starts this klaxon (one-process mode) and Alertmanager itself on free
      loopback ports with the same generated config, loads each in turn,
      and prints both side by side with ratios (klaxon / alertmanager).
  klaxon bench --compare --workload all
      runs every named load of the performance targets in turn (latency,
      flush, resends, resends-100k, new-groups, big-group) and ends with a
      table of the targets, met or not.

Flags:
`

// benchMain is `klaxon bench`: it parses the bench flags and runs the load.
func benchMain(args []string, stdout, stderr io.Writer) error {
	var o load.Options
	fs := flag.NewFlagSet("klaxon bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, benchUsage); fs.PrintDefaults() }
	fs.StringVar(&o.Target, "target", "http://127.0.0.1:9093", "Base URL of the API to load (loopback only; without --compare).")
	fs.StringVar(&o.SinkAddress, "sink.listen-address", "127.0.0.1:9095", "Loopback address of the webhook sink (without --compare).")
	fs.BoolVar(&o.Compare, "compare", false, "Start klaxon and Alertmanager, load each in turn, print a side-by-side table.")
	fs.StringVar(&o.KlaxonPath, "klaxon.path", "", "Klaxon executable for --compare (default: this executable).")
	fs.StringVar(&o.AlertmanagerPath, "alertmanager.path", load.DefaultAlertmanagerPath, "Alertmanager executable for --compare.")
	fs.Float64Var(&o.Rate, "rate", load.DefaultRate, "Offered load, alerts per second.")
	fs.IntVar(&o.Active, "active", load.DefaultActive, "Active set: distinct alerts re-sent in rotation.")
	fs.Float64Var(&o.Churn, "churn", load.DefaultChurn, "Fraction of the active set replaced by new alerts after each rotation.")
	fs.IntVar(&o.BatchSize, "batch", load.DefaultBatchSize, "Largest number of alerts per POST.")
	fs.IntVar(&o.Senders, "senders", load.DefaultSenders, "Concurrent HTTP senders.")
	fs.DurationVar(&o.Duration, "duration", load.DefaultDuration, "How long alerts are offered (per target).")
	fs.DurationVar(&o.Drain, "drain", load.DefaultDrain, "Longest wait after the load for webhooks still owed.")
	fs.Func("group-by", "The generated route's group_by, comma-separated (default alertname,instance: every alert its own group).", func(v string) error {
		o.GroupBy = strings.Split(v, ",")
		return nil
	})
	fs.IntVar(&o.MaxAlerts, "max-alerts", load.DefaultMaxAlerts, "The webhook's max_alerts (0: none); bounds the payloads of large groups.")
	fs.BoolVar(&o.Warmup, "warmup", false, "Post the active set once and wait until it is processed before the measured load (re-sends of known alerts).")
	printConfig := fs.Bool("print-config", false, "Print the Alertmanager/Klaxon config that notifies the sink at --sink.listen-address, and exit.")
	fs.DurationVar(&o.Idle, "idle", 10*time.Second, "With --compare: how long each target's CPU is measured idle after the drain (0: not measured).")
	fs.StringVar(&o.Plot, "plot", "", "Write an SVG plot of alerts/s and end-to-end latency over the run to this file.")
	workload := fs.String("workload", "", "A named load of the performance targets ("+strings.Join(load.WorkloadNames(), ", ")+
		"), or all (every one but million, in turn, with --compare); flags given as well override its settings.")
	verbose := fs.Bool("v", false, "Log the phases to stderr (a progress line goes there every 5 s regardless).")
	defaults := o
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("bench: unexpected arguments %q", fs.Args())
	}
	var ws []load.Workload
	switch *workload {
	case "":
	case "all":
		for _, w := range load.Workloads {
			if !w.Heavy {
				ws = append(ws, w)
			}
		}
	default:
		w, ok := load.FindWorkload(*workload)
		if !ok {
			return fmt.Errorf("bench: unknown workload %q (want one of %s, or all)", *workload, strings.Join(load.WorkloadNames(), ", "))
		}
		ws = []load.Workload{w}
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})).With("component", "bench")
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("bench: find klaxon executable: %w", err)
	}
	// options is o for workload w: the defaults, w's settings, then the
	// flags given (parsed again over them).
	options := func(w *load.Workload) load.Options {
		if w != nil {
			o = defaults
			w.Set(&o)
			_ = fs.Parse(args) // parsed once already
		}
		out := o
		if out.Compare && out.KlaxonPath == "" {
			out.KlaxonPath = exe
		}
		out.Logger, out.Progress = logger, stderr
		return out
	}
	if *printConfig {
		var w *load.Workload
		if len(ws) == 1 {
			w = &ws[0]
		}
		_, err := fmt.Fprint(stdout, options(w).WithDefaults().Config("http://"+o.SinkAddress+"/"))
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch {
	case len(ws) > 1 || (len(ws) == 1 && o.Compare):
		if !o.Compare {
			return errors.New("bench: --workload all needs --compare")
		}
		err = load.RunWorkloads(ctx, ws, func(w load.Workload) load.Options { return options(&w) }, stdout)
	case len(ws) == 1:
		err = load.Run(ctx, options(&ws[0]), stdout)
	default:
		err = load.Run(ctx, options(nil), stdout)
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("bench: interrupted: %w", err)
		}
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}
