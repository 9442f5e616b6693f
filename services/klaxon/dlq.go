package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/klaxon-alerts/klaxon/pkg/natsconn"

	"github.com/klaxon-alerts/klaxon/pkg/dlq"
)

const dlqUsage = `Usage: klaxon dlq list    [--nats.url URL] [--stage S] [--id SEQ]
       klaxon dlq redrive [--nats.url URL] [--stage S] (--id SEQ | --all)

Dead letters are the inputs a stage gave up on (a final error, or the last
retry failed), kept with the reason on klaxon.dlq.<stage> for 14 days.

  list            one line per dead letter, oldest first: its id (SEQ), stage,
                  original subject, time and reason; with --id, one in full
                  (headers and payload).
  redrive         republish a dead letter's original message to its original
                  subject, where its stage takes it as new, and delete the
                  dead letter; --all redrives every one (of --stage).

The one-process Klaxon's NATS admits this command only with the credentials
it was started with (--nats.user, --nats.password-file); another NATS with
any of the --nats.* credentials below.

Flags:
`

// dlqMain is `klaxon dlq list|redrive`.
func dlqMain(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("klaxon dlq", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, dlqUsage); fs.PrintDefaults() }
	url := fs.String("nats.url", "nats://127.0.0.1:4222", "NATS server URL.")
	var creds natsconn.Credentials
	natsFlags(fs, &creds)
	stage := fs.String("stage", "", "Only the dead letters of this stage (ingest, dedup, router, grouper, notifier).")
	id := fs.Uint64("id", 0, "The dead letter's id (SEQ in the list).")
	all := fs.Bool("all", false, "redrive: every dead letter (of --stage).")
	timeout := fs.Duration("timeout", 30*time.Second, "Give up after this long.")

	positional, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(positional) != 1 || (positional[0] != "list" && positional[0] != "redrive") {
		fs.Usage()
		return errors.New("dlq: want exactly one command: list or redrive")
	}
	cmd := positional[0]
	switch {
	case cmd == "redrive" && (*id == 0) == !*all:
		fs.Usage()
		return errors.New("dlq redrive: want --id SEQ or --all")
	case cmd == "list" && *all:
		return errors.New("dlq list: --all is for redrive")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	natsOpts, err := creds.Options()
	if err != nil {
		return fmt.Errorf("dlq: %w", err)
	}
	nc, err := nats.Connect(*url, append(natsOpts, nats.Name("klaxon dlq"), nats.Timeout(5*time.Second))...)
	if err != nil {
		return fmt.Errorf("dlq: connect to %s: %w", *url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("dlq: %w", err)
	}
	q := dlq.New(js)

	switch {
	case cmd == "list" && *id != 0:
		l, err := getLetter(ctx, q, *id, *stage)
		if err != nil {
			return err
		}
		return printLetter(stdout, l)
	case cmd == "list":
		letters, err := q.List(ctx, *stage)
		if err != nil {
			return fmt.Errorf("dlq: %w", err)
		}
		return printLetters(stdout, letters)
	case *id != 0:
		if _, err := getLetter(ctx, q, *id, *stage); err != nil {
			return err
		}
		l, err := q.Redrive(ctx, *id)
		if err != nil {
			return fmt.Errorf("dlq: %w", err)
		}
		fmt.Fprintf(stdout, "redriven %d (%s) to %s\n", l.Seq, l.Stage, l.Subject)
		return nil
	}
	letters, err := q.List(ctx, *stage)
	if err != nil {
		return fmt.Errorf("dlq: %w", err)
	}
	var errs []error
	done := 0
	for _, l := range letters {
		if _, err := q.Redrive(ctx, l.Seq); err != nil {
			errs = append(errs, err)
			fmt.Fprintf(stderr, "klaxon dlq: %v\n", err)
			continue
		}
		done++
		fmt.Fprintf(stdout, "redriven %d (%s) to %s\n", l.Seq, l.Stage, l.Subject)
	}
	fmt.Fprintf(stdout, "%d of %d dead letters redriven\n", done, len(letters))
	if len(errs) > 0 {
		return fmt.Errorf("dlq: %d dead letters not redriven: %w", len(errs), errors.Join(errs...))
	}
	return nil
}

// getLetter returns dead letter id, checking it is of stage when one is
// given.
func getLetter(ctx context.Context, q *dlq.Queue, id uint64, stage string) (*dlq.Letter, error) {
	l, err := q.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("dlq: %w", err)
	}
	if stage != "" && l.Stage != stage {
		return nil, fmt.Errorf("dlq: dead letter %d is of stage %s, not %s", id, l.Stage, stage)
	}
	return l, nil
}

// maxReason bounds a reason in the list.
const maxReason = 120

func printLetters(w io.Writer, letters []dlq.Letter) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tSTAGE\tSUBJECT\tFAILED AT\tREASON")
	for _, l := range letters {
		reason := l.Reason
		if l.Err != nil {
			reason = l.Err.Error()
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", l.Seq, l.Stage, l.Subject, failedAt(l), oneLine(reason, maxReason))
	}
	return tw.Flush()
}

func printLetter(w io.Writer, l *dlq.Letter) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Seq:\t%d\n", l.Seq)
	fmt.Fprintf(tw, "Stage:\t%s\n", l.Stage)
	fmt.Fprintf(tw, "Subject:\t%s\n", l.Subject)
	fmt.Fprintf(tw, "Failed at:\t%s\n", failedAt(*l))
	fmt.Fprintf(tw, "Stored at:\t%s\n", l.Stored.UTC().Format(time.RFC3339))
	if l.Err != nil {
		fmt.Fprintf(tw, "Error:\t%v\n", l.Err)
	}
	fmt.Fprintf(tw, "Reason:\t%s\n", l.Reason)
	if len(l.Headers) > 0 {
		fmt.Fprintln(tw, "Headers:")
		keys := make([]string, 0, len(l.Headers))
		for k := range l.Headers {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(tw, "  %s:\t%s\n", k, l.Headers[k])
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if utf8.Valid(l.Payload) {
		_, err := fmt.Fprintf(w, "Payload:\n%s\n", l.Payload)
		return err
	}
	_, err := fmt.Fprintf(w, "Payload: %d bytes, not text\n", len(l.Payload))
	return err
}

func failedAt(l dlq.Letter) string {
	if l.FailedAt.IsZero() {
		return "-"
	}
	return l.FailedAt.UTC().Format(time.RFC3339)
}

// oneLine folds s onto one line of at most n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > n {
		s = string([]rune(s)[:n-1]) + "…"
	}
	return s
}
