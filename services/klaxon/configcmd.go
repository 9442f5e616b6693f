package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/matcher"
	"github.com/klaxon-alerts/klaxon/pkg/route"
	"github.com/klaxon-alerts/klaxon/services/notifier/template"
)

// errFailed is returned after the command already printed what failed.
var errFailed = errors.New("failed")

// checkConfigMain is `klaxon check-config FILE...`, as `amtool check-config`.
func checkConfigMain(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("klaxon check-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: klaxon check-config FILE...\n\nValidates Alertmanager configuration files.")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("no file given")
	}
	failed := 0
	for _, file := range fs.Args() {
		cfg, err := config.Load(file)
		if err == nil {
			err = template.Check(cfg)
		}
		if err != nil {
			failed++
			fmt.Fprintf(stdout, "Checking '%s'  FAILED: %v\n\n", file, err)
			continue
		}
		templates, _ := cfg.TemplateFiles()
		fmt.Fprintf(stdout, "Checking '%s'  SUCCESS\nFound:\n", file)
		fmt.Fprintln(stdout, " - global config")
		fmt.Fprintln(stdout, " - route")
		fmt.Fprintf(stdout, " - %d inhibit rules\n", len(cfg.InhibitRules))
		fmt.Fprintf(stdout, " - %d receivers\n", len(cfg.Receivers))
		fmt.Fprintf(stdout, " - %d templates\n", len(templates))
		for _, t := range templates {
			fmt.Fprintf(stdout, "  SUCCESS %s\n", t)
		}
		fmt.Fprintln(stdout)
	}
	if failed > 0 {
		fmt.Fprintf(stderr, "klaxon: failed to validate %d file(s)\n", failed)
		return errFailed
	}
	return nil
}

// routesMain is `klaxon routes show|test`, as `amtool config routes`.
func routesMain(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("klaxon routes", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("config.file", "configs/klaxon.yml", "Alertmanager configuration file.")
	verify := fs.String("verify.receivers", "", "Comma-separated receivers the labels must route to (test only); exit 1 otherwise.")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: klaxon routes show [--config.file F]
       klaxon routes test [--config.file F] [--verify.receivers r1,r2] label=value... | '{label="value"}'

show prints the routing tree; test prints the receivers (and group keys) that
alerts with the given labels are routed to.

Flags:
`)
		fs.PrintDefaults()
	}
	if len(args) == 0 {
		fs.Usage()
		return errors.New("routes: show or test")
	}
	verb := args[0]
	positional, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return err
	}
	cfg, err := config.Load(*file)
	if err != nil {
		return err
	}
	tree, err := route.New(cfg.Route)
	if err != nil {
		return err
	}
	switch verb {
	case "show":
		fmt.Fprintln(stdout, "Routing tree:")
		printTree(stdout, tree.Root, "", true, true)
		return nil
	case "test":
		labels, err := parseLabels(positional)
		if err != nil {
			return err
		}
		routes := tree.Routes(labels)
		var receivers []string
		for _, r := range routes {
			receivers = append(receivers, r.Receiver)
		}
		fmt.Fprintln(stdout, strings.Join(receivers, ","))
		for _, r := range routes {
			fmt.Fprintf(stdout, "  %s  group key: %s\n", r.Receiver, r.GroupKey)
		}
		if *verify != "" && *verify != strings.Join(receivers, ",") {
			fmt.Fprintf(stderr, "WARNING: expected receivers %q, got %q\n", *verify, strings.Join(receivers, ","))
			return errFailed
		}
		return nil
	}
	fs.Usage()
	return fmt.Errorf("routes: unknown command %q", verb)
}

// printTree prints a route and its children in amtool's tree shape.
func printTree(w io.Writer, n *route.Node, prefix string, last, root bool) {
	branch, childPrefix := "├── ", prefix+"│   "
	if last {
		branch, childPrefix = "└── ", prefix+"    "
	}
	name := n.Matchers.String()
	if root {
		name = "default-route"
	}
	line := prefix + branch + name
	if n.Continue {
		line += "  continue: true"
	}
	if len(n.GroupBy) > 0 || n.GroupByAll {
		line += "  group_by: " + groupBy(n)
	}
	fmt.Fprintln(w, line+"  receiver: "+n.Receiver)
	for i, c := range n.Routes {
		printTree(w, c, childPrefix, i == len(n.Routes)-1, false)
	}
}

func groupBy(n *route.Node) string {
	if n.GroupByAll {
		return "[...]"
	}
	var names []string
	for l := range n.GroupBy {
		names = append(names, string(l))
	}
	slices.Sort(names)
	return "[" + strings.Join(names, ",") + "]"
}

// parseLabels reads label=value arguments, or one {a="b",...} set.
func parseLabels(args []string) (model.LabelSet, error) {
	ls := model.LabelSet{}
	for _, a := range args {
		ms, err := matcher.Parse(a)
		if err != nil {
			return nil, fmt.Errorf("label %q: %w", a, err)
		}
		for _, m := range ms {
			if m.Type != matcher.Equal {
				return nil, fmt.Errorf("label %q: only name=value", a)
			}
			ls[model.LabelName(m.Name)] = model.LabelValue(m.Value)
		}
	}
	return ls, nil
}
