package template

import (
	"errors"
	"fmt"
	"slices"
	"text/template/parse"
	"time"

	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/services/notifier/notification"
)

// Field is one templated field of a receiver's configuration.
type Field struct {
	// Path names the field: "receivers[0].slack_configs[1].title".
	Path string
	// Src is the field's template.
	Src string
	// HTML is set for a field rendered with html/template (e-mail html).
	HTML bool
}

// Fields lists the templated fields of cfg's Slack and e-mail integrations
// (webhooks have none), empty ones left out.
func Fields(cfg *config.Config) []Field {
	var fs []Field
	add := func(path, src string, html bool) {
		if src != "" {
			fs = append(fs, Field{Path: path, Src: src, HTML: html})
		}
	}
	for i, r := range cfg.Receivers {
		for j, s := range r.SlackConfigs {
			p := fmt.Sprintf("receivers[%d].slack_configs[%d].", i, j)
			for _, f := range SlackFields(s) {
				add(p+f.Path, f.Src, false)
			}
		}
		for j, e := range r.EmailConfigs {
			p := fmt.Sprintf("receivers[%d].email_configs[%d].", i, j)
			for _, f := range EmailFields(e) {
				add(p+f.Path, f.Src, f.HTML)
			}
		}
	}
	return fs
}

// SlackFields lists the templated fields of one Slack configuration, paths
// relative to it.
func SlackFields(s *config.SlackConfig) []Field {
	fs := []Field{
		{Path: "channel", Src: s.Channel},
		{Path: "username", Src: s.Username},
		{Path: "color", Src: s.Color},
		{Path: "title", Src: s.Title},
		{Path: "title_link", Src: s.TitleLink},
		{Path: "pretext", Src: s.Pretext},
		{Path: "text", Src: s.Text},
		{Path: "message_text", Src: s.MessageText},
		{Path: "footer", Src: s.Footer},
		{Path: "fallback", Src: s.Fallback},
		{Path: "callback_id", Src: s.CallbackID},
		{Path: "icon_emoji", Src: s.IconEmoji},
		{Path: "icon_url", Src: s.IconURL},
		{Path: "image_url", Src: s.ImageURL},
		{Path: "thumb_url", Src: s.ThumbURL},
	}
	for i, f := range s.Fields {
		p := fmt.Sprintf("fields[%d].", i)
		fs = append(fs, Field{Path: p + "title", Src: f.Title}, Field{Path: p + "value", Src: f.Value})
	}
	for i, a := range s.Actions {
		p := fmt.Sprintf("actions[%d].", i)
		fs = append(fs,
			Field{Path: p + "type", Src: a.Type}, Field{Path: p + "text", Src: a.Text},
			Field{Path: p + "url", Src: a.URL}, Field{Path: p + "style", Src: a.Style},
			Field{Path: p + "name", Src: a.Name}, Field{Path: p + "value", Src: a.Value})
		if c := a.ConfirmField; c != nil {
			fs = append(fs,
				Field{Path: p + "confirm.title", Src: c.Title}, Field{Path: p + "confirm.text", Src: c.Text},
				Field{Path: p + "confirm.ok_text", Src: c.OkText}, Field{Path: p + "confirm.dismiss_text", Src: c.DismissText})
		}
	}
	return fs
}

// EmailFields lists the templated fields of one e-mail configuration, paths
// relative to it; headers in name order.
func EmailFields(e *config.EmailConfig) []Field {
	fs := []Field{
		{Path: "to", Src: e.To},
		{Path: "from", Src: e.From},
		{Path: "text", Src: e.Text},
		{Path: "html", Src: e.HTML, HTML: true},
	}
	names := make([]string, 0, len(e.Headers))
	for k := range e.Headers {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		fs = append(fs, Field{Path: "headers." + k, Src: e.Headers[k]})
	}
	return fs
}

// Check reports every template error of cfg that can be found before
// sending: template files that do not parse, templated fields that do not
// parse, references (direct or through other templates) to templates that
// are not defined, and fields whose execution fails on a typical
// notification (one firing and one resolved alert). The errors are joined,
// each naming the field.
func Check(cfg *config.Config) error {
	t, err := FromConfig(cfg)
	if err != nil {
		return err
	}
	data := Sample(cfg)
	var errs []error
	for _, f := range Fields(cfg) {
		if err := t.check(f, data); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.Path, err))
		}
	}
	return errors.Join(errs...)
}

// check parses, resolves and executes one field.
func (t *Template) check(f Field, data *notification.Data) error {
	var trees func(string) *parse.Tree
	if f.HTML {
		tmpl, err := t.parseHTML(f.Src)
		if err != nil {
			return err
		}
		trees = func(name string) *parse.Tree {
			if d := tmpl.Lookup(name); d != nil {
				return d.Tree
			}
			return nil
		}
	} else {
		tmpl, err := t.parseText(f.Src)
		if err != nil {
			return err
		}
		trees = func(name string) *parse.Tree {
			if d := tmpl.Lookup(name); d != nil {
				return d.Tree
			}
			return nil
		}
	}
	if err := undefined(fieldName, trees); err != nil {
		return err
	}
	var err error
	if f.HTML {
		_, err = t.HTML(f.Src, data)
	} else {
		_, err = t.Text(f.Src, data)
	}
	return err
}

// undefined walks the templates reachable from root and reports the first
// reference to a template that lookup does not find.
func undefined(root string, lookup func(string) *parse.Tree) error {
	seen := map[string]bool{}
	var walk func(name string, via []string) error
	walk = func(name string, via []string) error {
		if seen[name] {
			return nil
		}
		seen[name] = true
		tree := lookup(name)
		if tree == nil || tree.Root == nil {
			return nil
		}
		var err error
		visit(tree.Root, func(tn *parse.TemplateNode) {
			if err != nil {
				return
			}
			if lookup(tn.Name) == nil {
				// A template defined but empty is found; only a missing one
				// is nil.
				err = fmt.Errorf("%w: %q (referenced from %s)", ErrUndefined, tn.Name, describe(append(via, name)))
				return
			}
			err = walk(tn.Name, append(via, name))
		})
		return err
	}
	return walk(root, nil)
}

func describe(via []string) string {
	if len(via) == 1 {
		return "the field"
	}
	return fmt.Sprintf("%q", via[len(via)-1])
}

// visit calls f for every {{ template }} node under n.
func visit(n parse.Node, f func(*parse.TemplateNode)) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			visit(c, f)
		}
	case *parse.TemplateNode:
		f(n)
	case *parse.IfNode:
		visit(n.List, f)
		visit(n.ElseList, f)
	case *parse.RangeNode:
		visit(n.List, f)
		visit(n.ElseList, f)
	case *parse.WithNode:
		visit(n.List, f)
		visit(n.ElseList, f)
	}
}

// Sample is a typical notification's template data for cfg's first
// receiver: a group of two alerts, one firing and one resolved, with
// labels, annotations, group and common labels set.
func Sample(cfg *config.Config) *notification.Data {
	receiver := "example"
	if cfg != nil && len(cfg.Receivers) > 0 {
		receiver = cfg.Receivers[0].Name
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	mk := func(instance string, endsAt time.Time) alert.Alert {
		return alert.Alert{
			Labels: model.LabelSet{
				"alertname": "SampleAlert", "severity": "critical", "job": "api", "instance": model.LabelValue(instance),
			},
			Annotations: model.LabelSet{
				"summary":     model.LabelValue("Sample alert on " + instance),
				"description": "A sample alert used to check templates.",
				"runbook_url": "https://runbooks.example/sample",
			},
			StartsAt:     at.Add(-time.Hour),
			EndsAt:       endsAt,
			GeneratorURL: "http://prometheus.example/graph?g0.expr=up",
		}
	}
	alerts := []alert.Alert{mk("web-1:9100", time.Time{}), mk("web-2:9100", at.Add(-time.Minute))}
	return notification.NewData(receiver, model.LabelSet{"alertname": "SampleAlert"}, alerts, at,
		"first notification", "http://klaxon.example")
}
