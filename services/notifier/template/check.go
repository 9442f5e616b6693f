package template

import (
	"errors"
	"fmt"
	"text/template/parse"
	"time"

	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/services/notifier/notification"
)

// Field is one templated field of a receiver's configuration; its Path
// names it from the top of the configuration:
// "receivers[0].slack_configs[1].title".
type Field = config.TemplateField

// Fields lists the templated fields of cfg's integrations, empty ones left
// out.
func Fields(cfg *config.Config) []Field {
	var fs []Field
	for i, r := range cfg.Receivers {
		for _, in := range r.Integrations() {
			p := fmt.Sprintf("receivers[%d].%s_configs[%d].", i, in.Type, in.Index)
			for _, f := range in.Config.TemplatedFields() {
				if f.Src != "" {
					f.Path = p + f.Path
					fs = append(fs, f)
				}
			}
		}
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
	// A source is checked once: fields with the same source (two
	// email_configs with the default html) share one parsed template, and
	// once executed, html/template has renamed its calls to escaped
	// variants that Lookup does not find, so a second walk would report
	// them undefined.
	type source struct {
		html bool
		src  string
	}
	checked := map[source]error{}
	var errs []error
	for _, f := range Fields(cfg) {
		key := source{f.HTML, f.Src}
		err, ok := checked[key]
		if !ok {
			err = t.check(f, data)
			checked[key] = err
		}
		if err != nil {
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
