package api

import (
	"bytes"
	"net/url"

	"gopkg.in/yaml.v3"

	"github.com/klaxon-alerts/klaxon/pkg/config"
)

// secretToken is how pkg/config renders a secret.
const secretToken = "<secret>"

// redactedOriginal is the configuration file as loaded with every secret
// masked: what /api/v2/status reports as config.original, and what amtool
// reads back ("config show", "config routes test").
//
// Which values are secret is pkg/config's decision: its redacted rendering
// (Config.String) shows them as "<secret>". The original text is kept
// otherwise, because tools parse it with their own Alertmanager version: a
// re-rendering would carry every field Klaxon knows, and an older amtool
// rejects fields it does not. A masked URL keeps its scheme ("https://<secret>"),
// so that an amtool that reads webhook URLs as plain URLs (0.25, Debian's)
// still parses the file; other secrets become "<secret>". If the original
// cannot be read, the redacted rendering is returned instead.
func redactedOriginal(cfg *config.Config) string {
	var rendered, orig yaml.Node
	if err := yaml.Unmarshal([]byte(cfg.String()), &rendered); err != nil {
		return cfg.String()
	}
	if err := yaml.Unmarshal([]byte(cfg.Original), &orig); err != nil || len(orig.Content) == 0 || len(rendered.Content) == 0 {
		return cfg.String()
	}
	mask(rendered.Content[0], orig.Content[0])
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&orig); err != nil {
		return cfg.String()
	}
	_ = enc.Close()
	return buf.String()
}

// mask walks the rendered and the original trees together and masks, in
// the original, every scalar the rendering shows as a secret.
func mask(rendered, orig *yaml.Node) {
	orig = resolve(orig)
	switch rendered.Kind {
	case yaml.ScalarNode:
		if rendered.Value == secretToken && orig.Kind == yaml.ScalarNode {
			orig.Value = maskedValue(orig.Value)
			orig.Tag, orig.Style = "!!str", 0
		}
	case yaml.MappingNode:
		if orig.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(rendered.Content); i += 2 {
			if v := lookup(orig, rendered.Content[i].Value); v != nil {
				mask(rendered.Content[i+1], v)
			}
		}
	case yaml.SequenceNode:
		if orig.Kind != yaml.SequenceNode {
			return
		}
		for i := 0; i < len(rendered.Content) && i < len(orig.Content); i++ {
			mask(rendered.Content[i], orig.Content[i])
		}
	}
}

// resolve follows aliases to their anchored node (masking it masks every
// use of the anchor).
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// lookup finds key in a mapping, following merge keys (<<) as YAML does:
// the mapping's own keys first, then the merged mappings in order.
func lookup(m *yaml.Node, key string) *yaml.Node {
	var merges []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if k.Value == "<<" && k.Tag == "!!merge" {
			merges = append(merges, m.Content[i+1])
			continue
		}
		if k.Value == key {
			return m.Content[i+1]
		}
	}
	for _, mg := range merges {
		mg = resolve(mg)
		candidates := []*yaml.Node{mg}
		if mg.Kind == yaml.SequenceNode {
			candidates = mg.Content
		}
		for _, c := range candidates {
			if c = resolve(c); c.Kind == yaml.MappingNode {
				if v := lookup(c, key); v != nil {
					return v
				}
			}
		}
	}
	return nil
}

// maskedValue hides a secret; a URL keeps its scheme.
func maskedValue(v string) string {
	if u, err := url.Parse(v); err == nil && u.Scheme != "" && u.Host != "" {
		return u.Scheme + "://" + secretToken
	}
	return secretToken
}
