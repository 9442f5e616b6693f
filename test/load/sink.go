package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// maxPayload bounds one webhook body the sink reads.
const maxPayload = 64 << 20

// webhookPayload is the part of Alertmanager's version-4 webhook payload the
// sink reads.
type webhookPayload struct {
	GroupKey string `json:"groupKey"`
	Alerts   []struct {
		Status string            `json:"status"`
		Labels map[string]string `json:"labels"`
	} `json:"alerts"`
}

// sink is the webhook receiver: it records, for each alert of this run, when
// it first arrived firing.
type sink struct {
	prefix   string // bench_id prefix of this run
	now      func() time.Time
	rec      atomic.Pointer[e2eRecorder]
	payloads atomic.Int64
	bad      atomic.Int64

	srv  *http.Server
	ln   net.Listener
	done chan error
	once sync.Once
}

// startSink listens on addr (loopback) and serves until close.
func startSink(addr, prefix string, now func() time.Time) (*sink, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("webhook sink: %w", err)
	}
	s := &sink{prefix: prefix, now: now, ln: ln, done: make(chan error, 1)}
	s.rec.Store(newE2ERecorder())
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// URL is the webhook URL to configure in the target.
func (s *sink) URL() string { return "http://" + s.ln.Addr().String() + "/" }

// use makes rec the recorder of later payloads.
func (s *sink) use(rec *e2eRecorder) { s.rec.Store(rec) }

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := s.now()
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	var p webhookPayload
	if err := json.NewDecoder(io.LimitReader(r.Body, maxPayload)).Decode(&p); err != nil {
		s.bad.Add(1)
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	s.payloads.Add(1)
	rec := s.rec.Load()
	ours := false
	for _, a := range p.Alerts {
		id := a.Labels[BenchIDLabel]
		if !strings.HasPrefix(id, s.prefix) {
			continue
		}
		ours = true
		if a.Status == "firing" {
			rec.received(id, t)
		}
	}
	if ours {
		rec.notified(p.GroupKey, t)
	}
	w.WriteHeader(http.StatusOK)
}

// close stops the server and waits for it. A target may hold connections
// it opened but never sent a request on (the server treats those as busy for
// seconds); after a short graceful wait they are closed.
func (s *sink) close() error {
	var err error
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err = s.srv.Shutdown(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			err = s.srv.Close()
		}
		if serr := <-s.done; !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
	})
	return err
}
