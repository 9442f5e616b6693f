// Package template renders notifications with Alertmanager's template
// language: Go text/template (and html/template for e-mail HTML) over the
// template data of package notification, with Alertmanager's functions
// (Funcs), Klaxon's default templates (default.tmpl: slack.default.*,
// email.default.*) and the user's files from the configuration's
// templates: globs, parsed after the defaults so that they may redefine them.
//
// Configured fields (a Slack title, an e-mail header) are templates too.
// Each is parsed once per Template and cached; execution is safe for
// concurrent use. Check finds template errors at configuration load: a file
// or a field that does not parse, a reference to a template that is not
// defined, or a field that fails on typical data.
package template

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	htmltmpl "html/template"
	"net/url"
	"regexp"
	"strings"
	"sync"
	texttmpl "text/template"
	"time"

	commontemplates "github.com/prometheus/common/helpers/templates"
	"golang.org/x/text/cases"
	"golang.org/x/text/language"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/services/notifier/notification"
)

//go:embed default.tmpl
var defaultTemplates string

// DefaultFile is the name the default templates are parsed under (it
// appears in errors).
const DefaultFile = "klaxon/default.tmpl"

// Template is a parsed set of templates: the defaults and the user's files.
type Template struct {
	text *texttmpl.Template
	html *htmltmpl.Template

	mu    sync.Mutex
	texts map[string]*texttmpl.Template
	htmls map[string]*htmltmpl.Template
}

// Option configures New.
type Option func(*options)

type options struct {
	now func() time.Time
}

// WithNow sets the clock of the since function (default time.Now).
func WithNow(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// New parses the default templates, then each file in order. Files are
// paths (globs already expanded, as config.Config.TemplateFiles does).
func New(files []string, opts ...Option) (*Template, error) {
	o := options{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	funcs := Funcs(o.now)
	text := texttmpl.New(DefaultFile).Option("missingkey=zero").Funcs(texttmpl.FuncMap(funcs))
	html := htmltmpl.New(DefaultFile).Option("missingkey=zero").Funcs(htmltmpl.FuncMap(funcs))
	var err error
	if text, err = text.Parse(defaultTemplates); err != nil {
		return nil, fmt.Errorf("default templates: %w", err)
	}
	if html, err = html.Parse(defaultTemplates); err != nil {
		return nil, fmt.Errorf("default templates: %w", err)
	}
	for _, f := range files {
		if text, err = text.ParseFiles(f); err != nil {
			return nil, fmt.Errorf("template file %s: %w", f, err)
		}
		if html, err = html.ParseFiles(f); err != nil {
			return nil, fmt.Errorf("template file %s: %w", f, err)
		}
	}
	return &Template{
		text:  text,
		html:  html,
		texts: map[string]*texttmpl.Template{},
		htmls: map[string]*htmltmpl.Template{},
	}, nil
}

// FromConfig parses the defaults and the files of cfg's templates: globs.
func FromConfig(cfg *config.Config, opts ...Option) (*Template, error) {
	files, err := cfg.TemplateFiles()
	if err != nil {
		return nil, err
	}
	return New(files, opts...)
}

// Text executes the text template src against data. An empty src renders
// as "".
func (t *Template) Text(src string, data *notification.Data) (string, error) {
	if src == "" {
		return "", nil
	}
	tmpl, err := t.parseText(src)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}

// HTML executes the html template src against data: values are escaped
// for HTML unless marked safe (safeHtml).
func (t *Template) HTML(src string, data *notification.Data) (string, error) {
	if src == "" {
		return "", nil
	}
	tmpl, err := t.parseHTML(src)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}

// fieldName names a field's template in errors.
const fieldName = "field"

// maxCached bounds the parsed fields kept: a configuration has far fewer,
// so the cache is only cleared when sources come from elsewhere.
const maxCached = 4096

func (t *Template) parseText(src string) (*texttmpl.Template, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return parseCached(t.texts, t.text, src)
}

func (t *Template) parseHTML(src string) (*htmltmpl.Template, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return parseCached(t.htmls, t.html, src)
}

// parser is what text/template and html/template templates have in common.
type parser[T any] interface {
	Clone() (T, error)
	New(name string) T
	Parse(text string) (T, error)
}

// parseCached parses src as a field over a clone of base (so the field sees
// every defined template), memoized in cache. The caller holds t.mu.
func parseCached[T parser[T]](cache map[string]T, base T, src string) (T, error) {
	if tmpl, ok := cache[src]; ok {
		return tmpl, nil
	}
	clone, err := base.Clone()
	if err != nil {
		return clone, err
	}
	tmpl, err := clone.New(fieldName).Parse(src)
	if err != nil {
		return tmpl, err
	}
	if len(cache) >= maxCached {
		clear(cache)
	}
	cache[src] = tmpl
	return tmpl, nil
}

// Funcs returns Alertmanager's template functions; since measures from now.
//
//   - toUpper, toLower, title, trimSpace: strings.
//   - join SEP LIST: strings.Join with the separator first, for pipelines.
//   - match RE TEXT, reReplaceAll RE REPL TEXT: regular expressions.
//   - safeHtml, safeUrl: mark trusted text for html/template.
//   - urlUnescape: url.QueryUnescape.
//   - stringSlice A B ...: a []string.
//   - date LAYOUT TIME, tz NAME TIME: time formatting and zones.
//   - since TIME: the duration from TIME to now.
//   - humanizeDuration D: "1h 2m 3s" (seconds as a number, or a Duration).
//   - toJson V: JSON encoding.
func Funcs(now func() time.Time) map[string]any {
	return map[string]any{
		"toUpper": strings.ToUpper,
		"toLower": strings.ToLower,
		"title": func(s string) string {
			// A Caser holds state: one per call.
			return cases.Title(language.AmericanEnglish).String(s)
		},
		"trimSpace": strings.TrimSpace,
		"join":      func(sep string, s []string) string { return strings.Join(s, sep) },
		"match":     regexp.MatchString,
		"reReplaceAll": func(pattern, repl, text string) (string, error) {
			re, err := regexp.Compile(pattern)
			if err != nil {
				return "", err
			}
			return re.ReplaceAllString(text, repl), nil
		},
		"safeHtml":    func(s string) htmltmpl.HTML { return htmltmpl.HTML(s) },
		"safeUrl":     func(s string) htmltmpl.URL { return htmltmpl.URL(s) },
		"urlUnescape": url.QueryUnescape,
		"stringSlice": func(s ...string) []string { return s },
		"date":        func(layout string, t time.Time) string { return t.Format(layout) },
		"tz": func(name string, t time.Time) (time.Time, error) {
			loc, err := time.LoadLocation(name)
			if err != nil {
				return time.Time{}, err
			}
			return t.In(loc), nil
		},
		"since":            func(t time.Time) time.Duration { return now().Sub(t) },
		"humanizeDuration": commontemplates.HumanizeDuration,
		"toJson": func(v any) (string, error) {
			b, err := json.Marshal(v)
			if err != nil {
				return "", err
			}
			return string(b), nil
		},
	}
}

// ErrUndefined is wrapped by Check's error for a reference to a template
// that no file defines.
var ErrUndefined = errors.New("template not defined")

// Renderer renders an integration's templated fields against one
// notification's data, collecting every field's error.
type Renderer struct {
	t    *Template
	data *notification.Data
	errs []error
}

// Renderer returns a renderer of fields against data.
func (t *Template) Renderer(data *notification.Data) *Renderer {
	return &Renderer{t: t, data: data}
}

// Text renders the text template src of the named field; on error it
// returns "" and keeps the error for Err.
func (r *Renderer) Text(field, src string) string {
	out, err := r.t.Text(src, r.data)
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("template %s: %w", field, err))
	}
	return out
}

// Err returns the errors of every field rendered so far, joined.
func (r *Renderer) Err() error { return errors.Join(r.errs...) }

// HTML renders the html template src of the named field (values escaped);
// on error it returns "" and keeps the error for Err.
func (r *Renderer) HTML(field, src string) string {
	out, err := r.t.HTML(src, r.data)
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("template %s: %w", field, err))
	}
	return out
}
