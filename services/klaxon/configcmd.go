package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
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

// routesMain is `klaxon routes show|test`, printing what `amtool config
// routes show|test` prints.
func routesMain(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("klaxon routes", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("config.file", "configs/klaxon.yml", "Alertmanager configuration file.")
	verify := fs.String("verify.receivers", "", "Comma-separated receivers the labels must route to (test only); exit 1 otherwise.")
	showTree := fs.Bool("tree", false, "Also print the matching routes as a tree (test only), as amtool's --tree.")
	groupKeys := fs.Bool("group-keys", false, "Also print each receiver's group key (test only; Klaxon's addition).")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: klaxon routes show [--config.file F]
       klaxon routes test [--config.file F] [--verify.receivers r1,r2] [--tree] [--group-keys] label=value...

show prints the routing tree; test prints the receivers that alerts with the
given labels are routed to, as amtool config routes show|test.

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
		fmt.Fprintf(stdout, "Routing tree:\n.\n")
		printTree(stdout, tree.Root, "", true, nil)
		fmt.Fprintln(stdout)
		return nil
	case "test":
		labels, err := parseLabels(positional)
		if err != nil {
			return err
		}
		if *showTree {
			fmt.Fprintf(stdout, "Matching routes:\n.\n")
			printTree(stdout, tree.Root, "", true, labels)
			fmt.Fprint(stdout, "\n\n")
		}
		return printReceivers(stdout, tree.Routes(labels), *verify, *groupKeys)
	}
	fs.Usage()
	return fmt.Errorf("routes: unknown command %q", verb)
}

// printReceivers prints amtool's receivers line, and the group keys if
// asked; with verify, a different line is a failure, as amtool's.
func printReceivers(w io.Writer, routes []contract.Route, verify string, groupKeys bool) error {
	receivers := make([]string, 0, len(routes))
	for _, r := range routes {
		receivers = append(receivers, r.Receiver)
	}
	line := strings.Join(receivers, ",")
	fmt.Fprintln(w, line)
	if groupKeys {
		for _, r := range routes {
			fmt.Fprintf(w, "  %s  group key: %s\n", r.Receiver, r.GroupKey)
		}
	}
	if verify != "" && verify != line {
		fmt.Fprintln(w, "WARNING: Expected receivers did not match resolved receivers.")
		return errFailed
	}
	return nil
}

// printTree prints a route and its children as amtool does (treeprint's
// shape). With labels nil, every route, each with its receiver; otherwise
// only the routes the labels take, the receiver on the last of each path.
func printTree(w io.Writer, n *route.Node, prefix string, last bool, labels model.LabelSet) {
	branch, childPrefix := "├── ", prefix+"│\u00a0\u00a0 "
	if last {
		branch, childPrefix = "└── ", prefix+"    "
	}
	children := n.Routes
	if labels != nil {
		children = matching(n, labels)
	}
	line := prefix + branch + "default-route"
	if len(n.Matchers) > 0 {
		line = prefix + branch + n.Matchers.String()
	}
	if n.Continue && labels == nil {
		line += "  continue: true"
	}
	if labels == nil || len(children) == 0 {
		line += "  receiver: " + n.Receiver
	}
	fmt.Fprintln(w, line)
	for i, c := range children {
		printTree(w, c, childPrefix, i == len(children)-1, labels)
	}
}

// matching are the children of n that labels are routed through: each
// that matches, up to the first without continue.
func matching(n *route.Node, labels model.LabelSet) []*route.Node {
	var out []*route.Node
	for _, c := range n.Routes {
		if c.Matchers.Matches(labels) {
			out = append(out, c)
			if !c.Continue {
				break
			}
		}
	}
	return out
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
