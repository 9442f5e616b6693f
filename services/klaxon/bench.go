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
	printConfig := fs.Bool("print-config", false, "Print the Alertmanager/Klaxon config that notifies the sink at --sink.listen-address, and exit.")
	fs.DurationVar(&o.Idle, "idle", 10*time.Second, "With --compare: how long each target's CPU is measured idle after the drain (0: not measured).")
	fs.StringVar(&o.Plot, "plot", "", "Write an SVG plot of alerts/s and end-to-end latency over the run to this file.")
	verbose := fs.Bool("v", false, "Log the phases to stderr (a progress line goes there every 5 s regardless).")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("bench: unexpected arguments %q", fs.Args())
	}
	if *printConfig {
		_, err := fmt.Fprint(stdout, load.Config("http://"+o.SinkAddress+"/"))
		return err
	}
	if o.Compare && o.KlaxonPath == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("bench: find klaxon executable: %w", err)
		}
		o.KlaxonPath = exe
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	o.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})).With("component", "bench")
	o.Progress = stderr

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := load.Run(ctx, o, stdout); err != nil {
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("bench: interrupted: %w", err)
		}
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}
