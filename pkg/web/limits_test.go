package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/klaxon-alerts/klaxon/pkg/web"
)

func TestRoutePrefix(t *testing.T) {
	for _, c := range []struct{ prefix, external, want string }{
		{"", "http://am.example.com:9093", ""},
		{"", "http://am.example.com/", ""},
		{"", "https://example.com/alertmanager/", "/alertmanager"},
		{"", "https://example.com/a/b", "/a/b"},
		{"/", "https://example.com/alertmanager/", ""},
		{"am/", "https://example.com/other", "/am"},
	} {
		if got := web.RoutePrefix(c.prefix, c.external); got != c.want {
			t.Errorf("RoutePrefix(%q, %q) = %q, want %q", c.prefix, c.external, got, c.want)
		}
	}
}

// getPath answers the status code and body of GET path.
func getPath(t *testing.T, srv *httptest.Server, path string) (int, string) {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestUnderPrefix(t *testing.T) {
	inner := http.NewServeMux()
	inner.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "OK") })
	srv := httptest.NewServer(web.UnderPrefix("/am", inner))
	defer srv.Close()
	for path, want := range map[string]int{"/am/-/healthy": 200, "/-/healthy": 404, "/": 302, "/other/-/healthy": 404} {
		if code, _ := getPath(t, srv, path); code != want {
			t.Errorf("GET %s = %d, want %d", path, code, want)
		}
	}
}

func TestLimitAPIConcurrency(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	inner := http.NewServeMux()
	inner.HandleFunc("GET /api/v2/slow", func(w http.ResponseWriter, _ *http.Request) {
		entered <- struct{}{}
		<-release
	})
	inner.HandleFunc("GET /api/v2/fast", func(http.ResponseWriter, *http.Request) {})
	inner.HandleFunc("POST /api/v2/fast", func(http.ResponseWriter, *http.Request) {})
	inner.HandleFunc("GET /metrics", func(http.ResponseWriter, *http.Request) {})
	srv := httptest.NewServer(web.LimitAPI(inner, 1, 0))
	defer srv.Close()

	done := make(chan int)
	go func() {
		resp, err := http.Get(srv.URL + "/api/v2/slow")
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	<-entered
	if code, body := getPath(t, srv, "/api/v2/fast"); code != http.StatusServiceUnavailable {
		t.Errorf("second GET while one runs = %d %q, want 503", code, body)
	}
	if code, _ := getPath(t, srv, "/metrics"); code != http.StatusOK {
		t.Errorf("GET /metrics (not API) = %d, want 200", code)
	}
	resp, err := http.Post(srv.URL+"/api/v2/fast", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("POST while a GET runs = %d, want 200 (only GETs are limited)", resp.StatusCode)
	}
	close(release)
	if code := <-done; code != http.StatusOK {
		t.Errorf("first GET = %d", code)
	}
	if code, _ := getPath(t, srv, "/api/v2/fast"); code != http.StatusOK {
		t.Errorf("GET after the first ended = %d, want 200", code)
	}
}

func TestLimitAPITimeout(t *testing.T) {
	inner := http.NewServeMux()
	inner.HandleFunc("GET /api/v2/slow", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	srv := httptest.NewServer(web.LimitAPI(inner, 0, 50*time.Millisecond))
	defer srv.Close()
	code, body := getPath(t, srv, "/api/v2/slow")
	if code != http.StatusServiceUnavailable || body != "Exceeded configured timeout of 50ms.\n" {
		t.Errorf("slow GET = %d %q, want 503 and Alertmanager's message", code, body)
	}
}
