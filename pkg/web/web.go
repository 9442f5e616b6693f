// Package web serves what every Klaxon process serves whatever its stages:
// /metrics (Prometheus), /-/healthy, /-/ready and, when enabled,
// /debug/pprof, and runs the HTTP server with a bounded graceful shutdown.
//
// TLS, mutual TLS, basic auth and response headers come from a Prometheus
// exporter-toolkit web configuration file (Alertmanager's
// --web.config.file), served by the exporter-toolkit itself.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	toolkit "github.com/prometheus/exporter-toolkit/web"
)

// NewMux returns a mux with the operational endpoints. ready is asked on
// every /-/ready: nil means ready.
func NewMux(g prometheus.Gatherer, ready func() error) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "OK")
	})
	mux.HandleFunc("GET /-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if err := ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "OK")
	})
	return mux
}

// HandlePprof adds /debug/pprof to mux. It is off by default: profiles and
// the command line (which may name secret files) are for operators who asked.
func HandlePprof(mux *http.ServeMux) {
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}

// ValidateConfig checks a web configuration file as Serve will read it
// (YAML, certificate paths, bcrypt hashes, headers), so that a bad file
// fails at start rather than at the first request. "" is valid: plain HTTP.
func ValidateConfig(file string) error {
	if file == "" {
		return nil
	}
	if err := toolkit.Validate(file); err != nil {
		return fmt.Errorf("web config %s: %w", file, err)
	}
	return nil
}

// ShutdownTimeout bounds the graceful shutdown of the HTTP server.
const ShutdownTimeout = 10 * time.Second

// Serve serves h on ln until ctx is done, then shuts down gracefully.
// configFile is the exporter-toolkit web configuration; "" serves plain
// HTTP without authentication. The toolkit re-reads the file on every
// connection and request, so certificates and users change without restart.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, configFile string, log *slog.Logger) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	flags := &toolkit.FlagConfig{WebConfigFile: &configFile}
	errc := make(chan error, 1)
	go func() { errc <- toolkit.Serve(ln, srv, flags, log) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if serveErr := <-errc; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	return err
}
