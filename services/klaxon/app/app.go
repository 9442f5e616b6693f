// Package app runs Klaxon: any set of stages in one process, against an
// external NATS or, with no stage named, all five stages with an embedded
// nats-server. main only parses flags into Options; tests and the all-in-one
// binary call Run.
//
// Shutdown is ordered: the HTTP server stops taking alerts, the stages drain
// their in-flight messages, the NATS connection is drained, and only then
// does an embedded server stop.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/configstore"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/inhibit"
	"github.com/klaxon-alerts/klaxon/pkg/kvcache"
	"github.com/klaxon-alerts/klaxon/pkg/matcher"
	"github.com/klaxon-alerts/klaxon/pkg/mute"
	"github.com/klaxon-alerts/klaxon/pkg/natsconn"
	"github.com/klaxon-alerts/klaxon/pkg/natsembed"
	"github.com/klaxon-alerts/klaxon/pkg/peers"
	"github.com/klaxon-alerts/klaxon/pkg/silencestore"
	"github.com/klaxon-alerts/klaxon/pkg/stage"
	"github.com/klaxon-alerts/klaxon/pkg/streams"
	"github.com/klaxon-alerts/klaxon/pkg/version"
	"github.com/klaxon-alerts/klaxon/pkg/web"
	"github.com/klaxon-alerts/klaxon/services/api"
	"github.com/klaxon-alerts/klaxon/services/dedup"
	"github.com/klaxon-alerts/klaxon/services/grouper"
	"github.com/klaxon-alerts/klaxon/services/ingest"
	"github.com/klaxon-alerts/klaxon/services/notifier"
	"github.com/klaxon-alerts/klaxon/services/notifier/template"
	"github.com/klaxon-alerts/klaxon/services/router"
	"github.com/klaxon-alerts/klaxon/services/ui"
)

// Options is what the flags say.
type Options struct {
	// Stages to run; empty runs all of them with an embedded NATS.
	Stages     []string
	ConfigFile string
	// ConfigFollow runs the config another process publishes instead of
	// publishing ConfigFile; implied when ConfigFile is "".
	ConfigFollow bool
	// ConfigKeyFile holds the key that seals the config revisions in KV
	// (see configstore); "" seals none.
	ConfigKeyFile string
	ListenAddress string
	// WebConfigFile is the exporter-toolkit web configuration (TLS, mutual
	// TLS, basic auth, headers) of the HTTP listener; "" is plain HTTP.
	WebConfigFile string
	// EnablePprof serves /debug/pprof.
	EnablePprof bool
	StoragePath string
	// NATSURL is the NATS to use when stages are named: one URL or a
	// comma-separated list of seed URLs of a cluster.
	NATSURL           string
	NATSListenAddress string
	// NATS is how to authenticate to the NATS at NATSURL.
	NATS natsconn.Credentials
	// Streams sizes and replicates the streams and buckets this process
	// provisions (the one that publishes the config does).
	Streams     streams.Options
	ExternalURL string
	// RoutePrefix is the path every endpoint is served under (Alertmanager's
	// --web.route-prefix); "": ExternalURL's path.
	RoutePrefix string
	// DispatchStartDelay holds every group flush until this long after
	// the grouper started (--dispatch.start-delay).
	DispatchStartDelay time.Duration
	// GetConcurrency bounds the API's GET requests in flight (0: GOMAXPROCS,
	// at least 8); APITimeout, if > 0, bounds an API request's duration.
	GetConcurrency int
	APITimeout     time.Duration
	// DataRetention is how long an expired silence is kept (0: 120h).
	DataRetention time.Duration
	// MaintenanceInterval is how often expired silences past their
	// retention are removed (0: 15m).
	MaintenanceInterval time.Duration
	// Matchers is how matchers parse and label names are checked in the
	// config, silences and API filters (Alertmanager's --enable-feature
	// classic-mode, utf8-strict-mode; default: its fallback mode).
	Matchers matcher.Mode
	Logger   *slog.Logger
	// Listening, if set, is called with the HTTP address once it listens.
	Listening func(addr string)
	// Ready, if set, is called once the stages run and HTTP is theirs.
	Ready func()
}

// Embedded reports whether Options asks for the one-process Klaxon.
func (o Options) Embedded() bool { return len(o.Stages) == 0 }

// runner is a part of the process that runs until its ctx is done.
type runner interface{ Run(context.Context) error }

// Run runs Klaxon until ctx is done or a part fails: it checks the files,
// listens for HTTP (from then on /-/healthy answers, and /-/ready says what
// the process waits for), connects to NATS (starting the embedded server in
// one-process mode), builds the stages and serves them.
func Run(ctx context.Context, o Options) error {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	stages, err := o.stages()
	if err != nil {
		return err
	}
	if err := o.checkStreams(); err != nil {
		return err
	}
	files, err := loadFiles(o)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.ListenAddress)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.ListenAddress, err)
	}
	if o.Listening != nil {
		o.Listening(ln.Addr().String())
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sw := web.NewSwitch()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return web.Serve(gctx, ln, sw, o.WebConfigFile, log) })
	stopNATS, err := start(gctx, g, sw, o, stages, files, advertised(ln.Addr().String()), log)
	if err != nil {
		cancel()
	}
	if waitErr := g.Wait(); err == nil && !errors.Is(waitErr, context.Canceled) {
		err = waitErr
	}
	if stopNATS != nil {
		stopNATS()
	}
	if errors.Is(parent.Err(), context.Canceled) {
		return nil // stopped by its owner, also while still starting
	}
	return err
}

// start connects to NATS and builds the stages while sw tells /-/ready what
// it waits for, then hands HTTP to the real handler and runs the stages and
// the config store in g. It returns stopNATS, which drains the connection
// (and stops an embedded server), for when g's parts are done; on error it
// has closed the connection itself.
func start(ctx context.Context, g *errgroup.Group, sw *web.Switch, o Options, stages []string, files files, webAddr string, log *slog.Logger) (stopNATS func(), err error) {
	natsAt := o.NATSURL
	if o.Embedded() {
		natsAt = "the embedded server"
	}
	sw.Waiting("connecting to NATS at " + natsAt)
	nc, closeNATS, err := connect(o, files.natsOpts, stages, log)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		closeNATS()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if !files.follower {
		sw.Waiting("creating the streams on NATS at " + natsAt)
		if err := provision(ctx, js, o.Streams, natsAt, sw, log); err != nil {
			closeNATS()
			return nil, err
		}
	}
	sw.Waiting("reading the running config from NATS at " + natsAt)
	reg := newRegistry()
	cfgStore, err := configstore.Open(ctx, configstore.Options{
		JS: js, File: o.ConfigFile, Follow: o.ConfigFollow, Key: files.configKey, Loaded: files.loaded,
		Validate: template.Check, Parser: config.Parser{Matchers: o.Matchers}, Logger: log, Registerer: reg,
	})
	if err != nil {
		closeNATS()
		return nil, fmt.Errorf("config: %w", err)
	}
	// Announced from now on (the bucket exists: the config publisher
	// provisioned it before storing the config); the member leaves when
	// ctx is done, before the connection is drained.
	member, err := joinPeers(ctx, js, stages, webAddr, log)
	if err != nil {
		closeNATS()
		return nil, err
	}
	g.Go(func() error { member.Wait(); return nil })
	// Stages that share partitions are ready once they took their share.
	var stagesReady []func() error
	mux := newMux(o, reg, nc, cfgStore, func() error {
		for _, ready := range stagesReady {
			if err := ready(); err != nil {
				return err
			}
		}
		return nil
	})
	runners, err := newStages(js, stages, cfgStore.Current, mux, o, log, reg, member)
	if err != nil {
		closeNATS()
		return nil, err
	}
	for _, r := range runners {
		if r, ok := r.(interface{ Ready() error }); ok {
			stagesReady = append(stagesReady, r.Ready)
		}
	}
	prefix := web.RoutePrefix(o.RoutePrefix, o.ExternalURL)
	handler := web.LimitAPI(mux, o.GetConcurrency, o.APITimeout)
	if slices.Contains(stages, contract.StageIngest) {
		// The web UI, where the API is: it calls the API through the same
		// limits, behind the same listener and --web.config.file.
		page, err := ui.New(ui.Options{API: handler, Config: cfgStore.Current, Prefix: prefix, Logger: log})
		if err != nil {
			closeNATS()
			return nil, err
		}
		page.Register(mux)
	}
	log.Info("klaxon started", "stages", stages, "nats", nc.ConnectedUrlRedacted(), "config", o.ConfigFile)
	sw.Set(web.UnderPrefix(prefix, handler))
	for _, r := range runners {
		g.Go(func() error { return r.Run(ctx) })
	}
	g.Go(func() error { return cfgStore.Run(ctx) })
	g.Go(func() error { return reloadOnHangup(ctx, cfgStore) })
	if o.Ready != nil {
		o.Ready()
	}
	return func() {
		if err := nc.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			log.Warn("nats drain", "err", err)
		}
		closeNATS()
	}, nil
}

// stages are the stages to run, checked.
func (o Options) stages() ([]string, error) {
	if o.Embedded() {
		return contract.Stages, nil
	}
	for _, s := range o.Stages {
		if !slices.Contains(contract.Stages, s) {
			return nil, fmt.Errorf("unknown stage %q (stages: %v)", s, contract.Stages)
		}
	}
	return o.Stages, nil
}

// checkStreams refuses stream options no server could take.
func (o Options) checkStreams() error {
	s := o.Streams
	switch {
	case s.Replicas < 0 || s.Replicas > 5:
		return fmt.Errorf("--nats.replicas %d: want 1 to 5", s.Replicas)
	case o.Embedded() && s.Replicas > 1:
		return fmt.Errorf("--nats.replicas %d: the embedded NATS is one server; run the stages against a NATS cluster for more", s.Replicas)
	case s.InputMaxBytes < 0 || s.HistoryMaxBytes < 0 || s.StateMaxBytes < 0 || s.History < 0:
		return errors.New("--nats.*-max-bytes and --nats.history-max-age must not be negative")
	}
	return nil
}

// files is what the files named by the options hold.
type files struct {
	natsOpts  []nats.Option
	loaded    *config.Config
	configKey []byte
	// follower runs the config another process publishes.
	follower bool
}

// loadFiles reads and checks the files, so that a bad one fails fast,
// before NATS is even reached.
func loadFiles(o Options) (files, error) {
	var f files
	var err error
	if f.natsOpts, err = o.NATS.Options(); err != nil {
		return f, err
	}
	if err := web.ValidateConfig(o.WebConfigFile); err != nil {
		return f, err
	}
	// A follower (--config.follow, or no file) runs the config another
	// process publishes: it neither provisions nor writes klaxon-config, so
	// its NATS user needs no permission to (see the README's Security
	// section). Its file, if any, only supplies the secrets.
	f.follower = o.ConfigFile == "" || o.ConfigFollow
	if f.follower && o.Embedded() {
		return f, errors.New("one-process mode publishes its config: it needs --config.file and no --config.follow")
	}
	if o.ConfigFile != "" {
		if f.loaded, err = configstore.Load(config.Parser{Matchers: o.Matchers}, o.ConfigFile, template.Check); err != nil {
			return f, fmt.Errorf("load config: %w", err)
		}
	}
	if o.ConfigKeyFile != "" {
		if f.configKey, err = configstore.LoadKey(o.ConfigKeyFile); err != nil {
			return f, err
		}
	}
	return f, nil
}

// connect connects to NATS, first starting the embedded server in
// one-process mode; closeNATS closes the connection, then stops that server.
func connect(o Options, natsOpts []nats.Option, stages []string, log *slog.Logger) (nc *nats.Conn, closeNATS func(), err error) {
	natsURL := o.NATSURL
	stop := func() {}
	if o.Embedded() {
		srv, err := startEmbedded(o, log)
		if err != nil {
			return nil, nil, err
		}
		stop = srv.Shutdown
		natsURL = srv.ClientURL()
		natsOpts = srv.ConnectOptions()
	}
	nc, err = nats.Connect(natsURL, append(natsOpts,
		nats.Name("klaxon "+fmt.Sprint(stages)),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(500*time.Millisecond),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { log.Error("nats", "err", err) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { log.Warn("nats disconnected", "err", err) }),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats reconnected", "url", c.ConnectedUrlRedacted()) }),
	)...)
	if err != nil {
		stop()
		return nil, nil, fmt.Errorf("connect to nats: %w", err)
	}
	return nc, func() { nc.Close(); stop() }, nil
}

// newRegistry is the process's metrics registry with the Go runtime's, the
// process's and the build's metrics.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(version.Collectors()...)
	return reg
}

// newMux serves the operational endpoints and POST /-/reload.
func newMux(o Options, reg *prometheus.Registry, nc *nats.Conn, cfgStore *configstore.Store, stagesReady func() error) *http.ServeMux {
	mux := web.NewMux(reg, func() error {
		if s := nc.Status(); s != nats.CONNECTED {
			return fmt.Errorf("nats connection %s", s)
		}
		return stagesReady()
	})
	if o.EnablePprof {
		web.HandlePprof(mux)
	}
	mux.HandleFunc("POST /-/reload", func(w http.ResponseWriter, r *http.Request) {
		if err := cfgStore.Reload(r.Context()); errors.Is(err, configstore.ErrFollower) {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		} else if err != nil {
			http.Error(w, "failed to reload config: "+err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "OK")
	})
	return mux
}

// newStages builds the stages, mounting ingest's API on mux; it returns
// what must run.
func newStages(js jetstream.JetStream, stages []string, current func() *config.Config, mux *http.ServeMux, o Options, log *slog.Logger, reg prometheus.Registerer, member *peers.Member) ([]runner, error) {
	var runners []runner
	// Silences, inhibition and time muting: the grouper mutes with them at
	// flush, ingest serves them in the API; both read watched copies of the
	// silences and alerts buckets, which they run.
	var sup suppression
	if slices.Contains(stages, contract.StageIngest) || slices.Contains(stages, contract.StageGrouper) {
		var err error
		if sup, err = newSuppression(js, current, o, log, reg); err != nil {
			return nil, err
		}
		runners = append(runners, sup.silences, sup.alerts)
	}
	deps := stage.Deps{JS: js, Config: current, Logger: log, Registerer: reg, Pool: sup.pool}
	for _, s := range stages {
		var r runner
		var err error
		switch s {
		case contract.StageIngest:
			err = mountIngest(js, current, sup, mux, log, reg, member, o.Matchers)
		case contract.StageDedup:
			r, err = dedup.New(dedup.Options{Deps: deps})
		case contract.StageRouter:
			r, err = router.New(router.Options{Deps: deps})
		case contract.StageGrouper:
			r, err = grouper.New(grouper.Options{Deps: deps, Muter: sup.muter, Latest: sup.latest, StartDelay: o.DispatchStartDelay})
		case contract.StageNotifier:
			r, err = notifier.New(notifier.Options{Deps: deps, ExternalURL: o.ExternalURL})
		}
		if err != nil {
			return nil, fmt.Errorf("stage %s: %w", s, err)
		}
		if r != nil {
			runners = append(runners, r)
		}
	}
	return runners, nil
}

// mountIngest serves ingest's write path and the read and silence API
// together.
func mountIngest(js jetstream.JetStream, current func() *config.Config, sup suppression, mux *http.ServeMux, log *slog.Logger, reg prometheus.Registerer, member *peers.Member, mode matcher.Mode) error {
	in, err := ingest.New(ingest.Options{JS: js, Logger: log, Registerer: reg, Mode: mode,
		ResolveTimeout: func() time.Duration { return time.Duration(current().Global.ResolveTimeout) }})
	if err != nil {
		return err
	}
	reads, err := api.New(api.Options{JS: js, Logger: log,
		Config: current, Silences: sup.silences, Alerts: sup.alerts, Muter: sup.muter, Registerer: reg,
		Peers: member.KV(), PeerName: member.Self().Name, Matchers: mode})
	if err != nil {
		return err
	}
	in.Register(mux)
	reads.Register(mux)
	return nil
}

// peerHeartbeat is how often a process renews its key in the peers bucket:
// four times within the key's TTL.
const peerHeartbeat = streams.PeersTTL / 4

// joinPeers announces this process in the peers bucket: a random id (its
// name), its HTTP address and its stages.
func joinPeers(ctx context.Context, js jetstream.JetStream, stages []string, webAddr string, log *slog.Logger) (*peers.Member, error) {
	kv, err := js.KeyValue(ctx, contract.BucketPeers)
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", contract.BucketPeers, err)
	}
	self := peers.Peer{ID: peers.NewID(), Address: webAddr, Stages: stages, Version: version.Get().Version, Started: time.Now().UTC()}
	return peers.Join(ctx, kv, self, peerHeartbeat, time.Now, log.With("component", "peers"))
}

// advertised is the address other processes and people reach the HTTP
// listener at: addr, with the host's name for an unspecified host.
func advertised(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		if h, err := os.Hostname(); err == nil {
			host = h
		}
	}
	return net.JoinHostPort(host, port)
}

// startEmbedded starts the one-process Klaxon's nats-server. The stages
// connect in process; TCP clients without credentials may only publish
// alerts, and --nats.user with --nats.password(-file), if given, admit an
// administrator (klaxon dlq, the nats CLI).
func startEmbedded(o Options, log *slog.Logger) (*natsembed.Server, error) {
	if c := o.NATS; c.Token != "" || c.TokenFile != "" || c.NKeySeedFile != "" || c.CredsFile != "" ||
		c.TLSCAFile != "" || c.TLSCertFile != "" {
		return nil, errors.New("one-process mode: of the NATS credentials only --nats.user and --nats.password(-file) apply (they admit an administrator to the embedded server)")
	}
	admin, err := o.NATS.ResolvePassword()
	if err != nil {
		return nil, fmt.Errorf("--nats.password: %w", err)
	}
	return natsembed.Start(natsembed.Options{
		StoreDir: o.StoragePath, ListenAddress: o.NATSListenAddress, Logger: log,
		Guarded: true, AdminUser: o.NATS.User, AdminPassword: admin,
	})
}

// suppression is what silences, inhibits and time-mutes alerts, and the
// watched copy of dedup's alerts it reads.
type suppression struct {
	silences *silencestore.Silences
	alerts   *kvcache.Alerts
	muter    *mute.Muter
	// pool is shared by the stages' holders of alerts and the watched
	// copy, which makes it forget the alerts that are gone.
	pool *alert.Pool
}

// latest is dedup's newest state of an alert, from the watched copy.
func (s suppression) latest(fp string) (alert.Alert, bool) {
	a, ok := s.alerts.Get(fp)
	if !ok {
		return alert.Alert{}, false
	}
	return *a, true
}

func newSuppression(js jetstream.JetStream, current func() *config.Config, o Options, log *slog.Logger, reg prometheus.Registerer) (suppression, error) {
	sils, err := silencestore.New(silencestore.Options{JS: js, Retention: o.DataRetention, GCInterval: o.MaintenanceInterval, Logger: log, Registerer: reg, Matchers: o.Matchers})
	if err != nil {
		return suppression{}, err
	}
	pool := alert.NewPool()
	alerts := kvcache.NewAlerts(js, pool, log)
	m, err := mute.New(mute.Options{Config: current, Silences: sils, Inhibitor: inhibit.New(alerts, current), Recorder: grouper.NewSuppressedPublisher(js, log), Logger: log})
	if err != nil {
		return suppression{}, err
	}
	return suppression{silences: sils, alerts: alerts, muter: m, pool: pool}, nil
}

// provision creates the streams and buckets, retrying while NATS is not
// reachable yet (a stage may start before its NATS); the log and /-/ready
// (through sw) name the NATS it waits for and why.
func provision(ctx context.Context, js jetstream.JetStream, so streams.Options, natsAt string, sw *web.Switch, log *slog.Logger) error {
	for delay := 250 * time.Millisecond; ; delay = min(2*delay, 5*time.Second) {
		// Short first tries, so that a NATS that is not there is named
		// within a second or so.
		pctx, cancel := context.WithTimeout(ctx, min(4*delay, 10*time.Second))
		err := streams.Provision(pctx, js, so)
		cancel()
		if err == nil {
			return nil
		}
		sw.Waiting(fmt.Sprintf("creating the streams on NATS at %s: %v", natsAt, err))
		log.Warn("NATS not reachable or not ready; retrying", "nats", natsAt, "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return fmt.Errorf("provision streams: %w", errors.Join(ctx.Err(), err))
		case <-time.After(delay):
		}
	}
}

// reloadOnHangup reloads the config file on SIGHUP; an invalid file is
// rejected with its error (logged by the store) and the running config stays.
func reloadOnHangup(ctx context.Context, store *configstore.Store) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			_ = store.Reload(ctx)
		}
	}
}
