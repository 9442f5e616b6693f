package web

import (
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"time"
)

// RoutePrefix is Alertmanager's --web.route-prefix: prefix, or when it is ""
// the path of externalURL, without its trailing slash ("" for the root).
func RoutePrefix(prefix, externalURL string) string {
	if prefix == "" {
		prefix = externalURL
		if i := strings.Index(prefix, "://"); i >= 0 {
			prefix = prefix[i+3:]
			if j := strings.IndexByte(prefix, '/'); j >= 0 {
				prefix = prefix[j:]
			} else {
				prefix = ""
			}
		}
	}
	prefix = strings.TrimRight(prefix, "/")
	if prefix != "" && !strings.HasPrefix(prefix, "/") {
		prefix = "/" + prefix
	}
	return prefix
}

// UnderPrefix serves h under prefix (from RoutePrefix) as Alertmanager
// serves its API, health, metrics and reload endpoints, and redirects the
// root to it.
func UnderPrefix(prefix string, h http.Handler) http.Handler {
	if prefix == "" {
		return h
	}
	mux := http.NewServeMux()
	mux.Handle(prefix+"/", http.StripPrefix(prefix, h))
	mux.Handle("GET /{$}", http.RedirectHandler(prefix+"/", http.StatusFound))
	return mux
}

// LimitAPI applies Alertmanager's --web.get-concurrency and --web.timeout
// to the requests under /api/: at most getConcurrency GET requests at once
// (<= 0: GOMAXPROCS, at least 8), the others answered 503 at once; and, if
// timeout > 0, 503 for a request still running after timeout.
func LimitAPI(h http.Handler, getConcurrency int, timeout time.Duration) http.Handler {
	if getConcurrency <= 0 {
		getConcurrency = max(runtime.GOMAXPROCS(0), 8)
	}
	inFlight := make(chan struct{}, getConcurrency)
	var api http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			select {
			case inFlight <- struct{}{}:
				defer func() { <-inFlight }()
			default:
				http.Error(w, fmt.Sprintf("Limit of concurrent GET requests reached (%d), try again later.", getConcurrency), http.StatusServiceUnavailable)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
	if timeout > 0 {
		api = http.TimeoutHandler(api, timeout, fmt.Sprintf("Exceeded configured timeout of %v.\n", timeout))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			api.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}
