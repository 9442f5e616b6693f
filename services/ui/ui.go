// Package ui is Klaxon's web UI: server-rendered pages (html/template) for
// alerts, silences, the history of an alert or group, dead letters, status
// and the routing tree, with htmx (vendored, static/) for the live parts.
//
// The UI reads and writes only through the public HTTP API — Alertmanager's
// API v2 and Klaxon's /api/klaxon/v1 — which it calls in process on the
// handler it is given, forwarding the caller's identity (basic auth, an
// authenticating proxy's user header), so that it sees and may do exactly
// what the caller could do with curl; the routing tree is drawn from the
// running config with package route, as `klaxon routes` does. It is
// mounted where the API is, behind the same listener and its
// --web.config.file.
package ui

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/route"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configures the UI.
type Options struct {
	// API serves /api/v2 and /api/klaxon/v1 (the process's HTTP handler
	// below the route prefix).
	API http.Handler
	// Config is the running config, for the routing tree.
	Config func() *config.Config
	// Prefix is the route prefix the UI is served under ("" or "/am").
	Prefix string
	Logger *slog.Logger
	Now    func() time.Time
}

// UI serves the pages.
type UI struct {
	opts  Options
	log   *slog.Logger
	pages map[string]*template.Template
	trees route.Memo
}

// pageNames are the templates, each rendered inside layout.html.
var pageNames = []string{"alerts", "silences", "silence", "silence_form", "history", "deadletters", "deadletter", "status", "routes", "error"}

// New builds the UI; mount it with Register.
func New(opts Options) (*UI, error) {
	if opts.API == nil || opts.Config == nil {
		return nil, errors.New("ui: API and Config are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	u := &UI{opts: opts, log: opts.Logger.With("component", "ui"), pages: map[string]*template.Template{}}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(u.funcs()).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("ui template %s: %w", name, err)
		}
		u.pages[name] = t
	}
	return u, nil
}

// Register mounts the pages on mux.
func (u *UI) Register(mux *http.ServeMux) {
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", cacheForever(http.FileServerFS(static))))
	mux.HandleFunc("GET /{$}", u.alertsPage)
	mux.HandleFunc("GET /alerts", u.alertsPage)
	mux.HandleFunc("GET /silences", u.silencesPage)
	mux.HandleFunc("GET /silences/new", u.silenceForm)
	mux.HandleFunc("GET /silences/preview", u.silencePreview)
	mux.HandleFunc("POST /silences", u.sameOrigin(u.silenceSubmit))
	mux.HandleFunc("GET /silences/{id}", u.silencePage)
	mux.HandleFunc("GET /silences/{id}/edit", u.silenceForm)
	mux.HandleFunc("POST /silences/{id}/expire", u.sameOrigin(u.silenceExpire))
	mux.HandleFunc("GET /history", u.historyPage)
	mux.HandleFunc("GET /deadletters", u.deadLettersPage)
	mux.HandleFunc("GET /deadletters/{id}", u.deadLetterPage)
	mux.HandleFunc("POST /deadletters/{id}/redrive", u.sameOrigin(u.redrive))
	mux.HandleFunc("GET /status", u.statusPage)
	mux.HandleFunc("GET /routes", u.routesPage)
}

// The static files' names carry their version, so they may be cached.
func cacheForever(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		h.ServeHTTP(w, r)
	})
}

// sameOrigin refuses a form post another site made the browser send (the
// browser would add the basic-auth credentials it holds for Klaxon).
func (u *UI) sameOrigin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		site := r.Header.Get("Sec-Fetch-Site")
		origin := r.Header.Get("Origin")
		crossSite := site != "" && site != "same-origin" && site != "none"
		if !crossSite && origin != "" && origin != "null" {
			if o, err := url.Parse(origin); err != nil || o.Host != r.Host {
				crossSite = true
			}
		}
		if crossSite {
			http.Error(w, "cross-site form post refused", http.StatusForbidden)
			return
		}
		h(w, r)
	}
}

// apiError is an answer of the API other than 2xx.
type apiError struct {
	Status int
	Msg    string
}

func (e *apiError) Error() string { return fmt.Sprintf("API answered %d: %s", e.Status, e.Msg) }

// identityHeaders are the request headers that say who the caller is; the
// API records them in a silence's history.
var identityHeaders = []string{"Authorization", "X-Forwarded-User", "X-Remote-User", "X-Auth-Request-User"}

// call makes an API request in process as the caller of r, and decodes a
// 2xx JSON answer into out (if not nil).
func (u *UI) call(r *http.Request, method, path string, query url.Values, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	target := path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	req := httptest.NewRequestWithContext(r.Context(), method, target, rd)
	req.RemoteAddr = r.RemoteAddr
	req.Host = r.Host
	for _, h := range identityHeaders {
		if v := r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	u.opts.API.ServeHTTP(rec, req)
	if rec.Code/100 != 2 {
		msg := strings.TrimSpace(rec.Body.String())
		var s string
		if json.Unmarshal(rec.Body.Bytes(), &s) == nil {
			msg = s
		}
		var sw struct{ Message string }
		if json.Unmarshal(rec.Body.Bytes(), &sw) == nil && sw.Message != "" {
			msg = sw.Message
		}
		return &apiError{Status: rec.Code, Msg: msg}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
		return fmt.Errorf("decode %s %s: %w", method, path, err)
	}
	return nil
}

// page is what every template gets.
type page struct {
	Title  string
	Nav    string
	Prefix string
	// Partial renders only the live part (htmx polling).
	Partial bool
	Data    any
}

// render writes page name; a template failure is logged (the header is
// already out).
func (u *UI) render(w http.ResponseWriter, r *http.Request, code int, name, title string, data any) {
	var buf bytes.Buffer
	p := page{Title: title, Nav: navOf(name), Prefix: u.opts.Prefix, Partial: r.Header.Get("HX-Request") == "true", Data: data}
	tmpl := "layout.html"
	if p.Partial {
		tmpl = "live"
	}
	if err := u.pages[name].ExecuteTemplate(&buf, tmpl, p); err != nil {
		u.log.Error("render", "page", name, "err", err)
		http.Error(w, "rendering the page failed: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
	w.WriteHeader(code)
	_, _ = buf.WriteTo(w)
}

func navOf(name string) string {
	switch name {
	case "silences", "silence", "silence_form":
		return "silences"
	case "deadletters", "deadletter":
		return "deadletters"
	}
	return name
}

// fail renders err: an API refusal with its status, anything else as 500.
func (u *UI) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusInternalServerError
	var ae *apiError
	if errors.As(err, &ae) {
		code = ae.Status
	} else if errors.Is(err, context.Canceled) {
		return
	}
	u.render(w, r, code, "error", "Error", err.Error())
}

// redirect sends the browser to path below the prefix after a form post.
func (u *UI) redirect(w http.ResponseWriter, r *http.Request, path string) {
	http.Redirect(w, r, u.opts.Prefix+path, http.StatusSeeOther)
}
