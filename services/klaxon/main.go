// Command klaxon runs Klaxon. With no stage named it starts an embedded
// nats-server and all five stages in one process; naming stages
// (ingest, dedup, router, grouper, notifier) runs only those, against
// --nats.url.
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

	"github.com/klaxon-alerts/klaxon/pkg/natsconn"
	"github.com/klaxon-alerts/klaxon/services/klaxon/app"
)

const usage = `Usage: klaxon [stage...] [flags]
       klaxon check-config FILE...            validate configuration files
       klaxon routes show|test [flags] ...    print the routing tree, or test labels against it
       klaxon dlq list|redrive [flags]        see and resend dead letters (klaxon dlq -h)
       klaxon bench [flags]                   load a target and measure (klaxon bench -h)
       klaxon webhook-echo [flags]            print the webhook notifications it receives (:5001)

With no stage, runs all five stages and an embedded NATS server in one process.
Stages: ingest dedup router grouper notifier (several may be named).

Flags:
`

// commands are the subcommands other than running stages.
var commands = map[string]func(args []string, stdout, stderr io.Writer) error{
	"bench":        benchMain,
	"check-config": checkConfigMain,
	"dlq":          dlqMain,
	"routes":       routesMain,
	"webhook-echo": webhookEchoMain,
}

func main() {
	args := os.Args[1:]
	var err error
	if len(args) > 0 && commands[args[0]] != nil {
		err = commands[args[0]](args[1:], os.Stdout, os.Stderr)
	} else {
		err = run(args, os.Stderr)
	}
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		if !errors.Is(err, errFailed) {
			fmt.Fprintln(os.Stderr, "klaxon:", err)
		}
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	o, err := parseRun(args, stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return app.Run(ctx, o)
}

// parseRun parses the command line of running stages into Options, with
// the logger writing to stderr.
func parseRun(args []string, stderr io.Writer) (app.Options, error) {
	var o app.Options
	fs := flag.NewFlagSet("klaxon", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	fs.StringVar(&o.ConfigFile, "config.file", "configs/klaxon.yml", "Alertmanager-compatible configuration file; empty (named stages only): as --config.follow, with the secrets from --config.key-file.")
	fs.BoolVar(&o.ConfigFollow, "config.follow", false, "Run the config another process publishes to KV klaxon-config (read access only) instead of publishing --config.file, which then only supplies the secrets.")
	fs.StringVar(&o.ConfigKeyFile, "config.key-file", "", "Key (at least 32 random bytes) sealing the config revisions in KV klaxon-config; processes without the config file need it.")
	fs.StringVar(&o.ListenAddress, "web.listen-address", ":9093", "Address for the API, /metrics, /-/healthy and /-/ready.")
	fs.StringVar(&o.WebConfigFile, "web.config.file", "", "Web configuration file (exporter-toolkit: TLS, mutual TLS, basic auth, headers) for the HTTP listener; empty: plain HTTP.")
	fs.BoolVar(&o.EnablePprof, "web.enable-pprof", false, "Serve /debug/pprof on the HTTP listener.")
	fs.StringVar(&o.ExternalURL, "web.external-url", "", "URL under which Klaxon is reachable from outside (used in notifications); its path, if any, prefixes every endpoint unless --web.route-prefix says otherwise.")
	fs.StringVar(&o.StoragePath, "storage.path", "data/", "Directory of the embedded NATS server's JetStream store.")
	fs.StringVar(&o.NATSURL, "nats.url", "nats://127.0.0.1:4222", "NATS server URL (when stages are named); a cluster's seed URLs separated by commas.")
	natsFlags(fs, &o.NATS)
	streamFlags(fs, &o.Streams)
	fs.DurationVar(&o.DataRetention, "data.retention", 120*time.Hour, "How long to keep expired silences (as Alertmanager's --data.retention).")
	fs.StringVar(&o.NATSListenAddress, "nats.listen-address", "127.0.0.1:4222", "Client address of the embedded NATS server (one-process mode).")
	level := fs.String("log.level", "info", "Log level: debug, info, warn, error.")
	format := fs.String("log.format", "logfmt", "Log format: logfmt or json.")
	applyAMFlags := alertmanagerFlags(fs, &o)

	positional, err := parseInterleaved(fs, args)
	if err != nil {
		return o, err
	}
	o.Stages = positional
	logger, err := newLogger(*level, *format, stderr)
	if err != nil {
		return o, err
	}
	o.Logger = logger
	if err := applyAMFlags(logger); err != nil {
		return o, err
	}
	if o.ExternalURL == "" {
		o.ExternalURL = externalURL(o.ListenAddress)
	}
	return o, nil
}

// natsFlags registers the flags of how to authenticate to NATS, shared by
// the stages and the subcommands that connect to NATS.
func natsFlags(fs *flag.FlagSet, c *natsconn.Credentials) {
	fs.StringVar(&c.User, "nats.user", "", "NATS user (with --nats.password or --nats.password-file).")
	fs.StringVar(&c.Password, "nats.password", "", "NATS password (prefer --nats.password-file: flags show in ps).")
	fs.StringVar(&c.PasswordFile, "nats.password-file", "", "File holding the NATS password.")
	fs.StringVar(&c.Token, "nats.token", "", "NATS token (prefer --nats.token-file).")
	fs.StringVar(&c.TokenFile, "nats.token-file", "", "File holding the NATS token.")
	fs.StringVar(&c.NKeySeedFile, "nats.nkey", "", "File holding a NATS user NKey seed.")
	fs.StringVar(&c.CredsFile, "nats.creds", "", "NATS .creds file (user JWT and seed).")
	fs.StringVar(&c.TLSCAFile, "nats.tls.ca", "", "CA certificate that signed the NATS server's certificate; set, TLS is required.")
	fs.StringVar(&c.TLSCertFile, "nats.tls.cert", "", "Client certificate for mutual TLS with NATS.")
	fs.StringVar(&c.TLSKeyFile, "nats.tls.key", "", "Key of --nats.tls.cert.")
	fs.StringVar(&c.InboxPrefix, "nats.inbox-prefix", "", "Subject prefix of replies to this process (default _INBOX); one per NATS user, e.g. _INBOX.dedup, keeps replies private.")
}

// parseInterleaved parses flags that may come before, between or after the
// positional arguments, which it returns.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func newLogger(level, format string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log.level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "logfmt", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log.format %q: want logfmt or json", format)
}

// externalURL derives Alertmanager's default external URL from the listen
// address.
func externalURL(listen string) string {
	host := listen
	if strings.HasPrefix(host, ":") {
		h, err := os.Hostname()
		if err != nil {
			h = "localhost"
		}
		host = h + host
	}
	return "http://" + host
}
