package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// webhookEchoMain is `klaxon webhook-echo`: a webhook receiver that prints
// every notification it gets, so that the default config's webhook
// (http://127.0.0.1:5001/) shows something on a first try.
func webhookEchoMain(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("klaxon webhook-echo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("listen-address", "127.0.0.1:5001", "Where to listen for webhook notifications.")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: klaxon webhook-echo [flags]\n\nPrints every webhook notification it receives (Alertmanager's version-4 payload).\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(stderr, "webhook-echo: listening on http://%s/\n", ln.Addr())
	srv := &http.Server{Handler: echoHandler(stdout), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdown)
	if serveErr := <-served; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	return err
}

// echoHandler prints each request's JSON body, indented, after a summary
// line: when, the receiver, the status, how many alerts.
func echoHandler(out io.Writer) http.Handler {
	var mu sync.Mutex
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 16<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var summary struct {
			Receiver string            `json:"receiver"`
			Status   string            `json:"status"`
			Alerts   []json.RawMessage `json:"alerts"`
		}
		_ = json.Unmarshal(body, &summary)
		var pretty bytes.Buffer
		if json.Indent(&pretty, body, "", "  ") != nil {
			pretty.Reset()
			pretty.Write(body)
		}
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(out, "%s %s %s: %s, %d alerts\n%s\n", time.Now().Format(time.RFC3339), r.Method, r.URL.Path,
			summary.Status, len(summary.Alerts), pretty.String())
	})
}
