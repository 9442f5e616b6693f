package web

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

// Switch is a process's HTTP handler from its first moment: while the
// process starts (waiting for NATS, say) /-/healthy answers 200 — it is
// alive — and /-/ready, like everything else, 503 with what it is waiting
// for; Set then hands every request to the real handler.
type Switch struct {
	real atomic.Pointer[http.Handler]

	mu      sync.Mutex
	waiting string
}

// NewSwitch returns a switch waiting for "starting".
func NewSwitch() *Switch { return &Switch{waiting: "starting"} }

// Waiting says what the process waits for, as /-/ready tells it.
func (s *Switch) Waiting(what string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waiting = what
}

// Set hands every later request to h.
func (s *Switch) Set(h http.Handler) { s.real.Store(&h) }

func (s *Switch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := s.real.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	if strings.HasSuffix(r.URL.Path, "/-/healthy") { // under any route prefix

		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("OK\n"))
		return
	}
	s.mu.Lock()
	why := s.waiting
	s.mu.Unlock()
	http.Error(w, "not ready: "+why, http.StatusServiceUnavailable)
}
