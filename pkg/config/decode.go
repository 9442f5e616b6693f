package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/klaxon-alerts/klaxon/pkg/matcher"
)

// Error is one configuration error: where it is (file, line, field path such
// as route.routes[2].group_wait) and what is wrong. Load and Parse return one
// Error or several joined with errors.Join; use errors.As to inspect them.
type Error struct {
	File string
	Line int    // 1-based; 0 when the error is not tied to a line
	Path string // field path; "" for the document itself
	Err  error
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":" + strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	} else if e.Line > 0 {
		b.WriteString("line " + strconv.Itoa(e.Line) + ": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// maxErrors bounds how many errors one load reports.
const maxErrors = 50

// maxNodes bounds the YAML nodes decoded, aliases expanded, so that an alias
// bomb cannot exhaust memory or time.
const maxNodes = 1 << 18

// The hooks a schema type can implement; the decoder calls them on a pointer.
type (
	// defaulter sets the type's defaults before its fields are decoded.
	defaulter interface{ setDefaults() }
	// validator checks the decoded value; its error is reported at the
	// value's path and line.
	validator interface{ validate() error }
	// unknownFielder explains a key the type does not hold better than "unknown
	// field" (e.g. an integration that is not supported yet). It returns
	// nil to fall back to the generic error.
	unknownFielder interface{ unknownField(key string) error }
)

// decoder walks a yaml.Node tree into Go values. The schema types of this
// package are walked field by field (strictly: unknown keys are errors, with
// their line and path); a type with its own YAML unmarshaller is decoded by
// yaml.v3 from its node, after a strict check of the keys it may hold.
type decoder struct {
	file string
	// mode reads matchers and checks label names.
	mode  matcher.Mode
	errs  []error
	nodes int
	// active holds the collection nodes being decoded, to catch an alias
	// that refers to one of its own ancestors.
	active map[*yaml.Node]bool
}

// enter marks n as being decoded; it reports false (and the error) when n is
// already being decoded further up, i.e. an alias cycle.
func (d *decoder) enter(n *yaml.Node, path string) bool {
	if n.Kind != yaml.MappingNode && n.Kind != yaml.SequenceNode {
		return true
	}
	if d.active == nil {
		d.active = map[*yaml.Node]bool{}
	}
	if d.active[n] {
		d.failf(n, path, "alias refers to a node that contains it")
		return false
	}
	d.active[n] = true
	return true
}

func (d *decoder) leave(n *yaml.Node) { delete(d.active, n) }

func (d *decoder) fail(n *yaml.Node, path string, err error) {
	if len(d.errs) == maxErrors {
		d.errs = append(d.errs, &Error{File: d.file, Err: errors.New("too many errors")})
	}
	if len(d.errs) > maxErrors {
		return
	}
	line := 0
	if n != nil {
		line = n.Line
	}
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Path: path, Err: err})
}

func (d *decoder) failf(n *yaml.Node, path, format string, args ...any) {
	d.fail(n, path, fmt.Errorf(format, args...))
}

var unmarshalerV3 = reflect.TypeFor[yaml.Unmarshaler]()

// obsoleteUnmarshaler is yaml.v2's interface, which yaml.v3 still honours and
// prometheus/common implements.
type obsoleteUnmarshaler interface {
	UnmarshalYAML(unmarshal func(any) error) error
}

var obsoleteType = reflect.TypeFor[obsoleteUnmarshaler]()

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// resolve follows aliases and counts the node against the budget.
func (d *decoder) resolve(n *yaml.Node) (*yaml.Node, bool) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	d.nodes++
	return n, d.nodes <= maxNodes
}

// isEmpty reports a null value or an empty list or mapping.
func isEmpty(n *yaml.Node) bool {
	return isNull(n) || (n.Kind == yaml.SequenceNode || n.Kind == yaml.MappingNode) && len(n.Content) == 0
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// decode fills v (addressable) from n.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	n, ok := d.resolve(n)
	if !ok {
		if d.nodes == maxNodes+1 {
			d.failf(n, path, "document too large (aliases expand to more than %d nodes)", maxNodes)
		}
		return
	}
	if v.Kind() == reflect.Pointer {
		if isNull(n) {
			v.SetZero()
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
		return
	}
	if !d.enter(n, path) {
		return
	}
	defer d.leave(n)
	if v.Type() == matchersType {
		d.decodeMatchers(n, v, path)
		return
	}
	p := v.Addr()
	if p.Type().Implements(unmarshalerV3) || p.Type().Implements(obsoleteType) {
		d.decodeForeign(n, v, path)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		if !strings.HasPrefix(v.Type().PkgPath()+"/", modulePath+"/") {
			d.decodeForeign(n, v, path)
			return
		}
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		d.decodeSlice(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	case reflect.Interface:
		// Free-form data (PagerDuty's details): any YAML value.
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.fail(n, path, cleanYAMLError(err))
		}
	default:
		d.decodeScalar(n, v, path)
	}
}

var (
	// modulePath prefixes Klaxon's packages, whose schema types are walked
	// field by field.
	modulePath   = "github.com/klaxon-alerts/klaxon"
	matchersType = reflect.TypeFor[matcher.Matchers]()
)

// decodeMatchers reads a list of matcher strings, each holding one matcher
// or a {...} list, parsed as Alertmanager's fallback mode does, and sorts the
// result as Alertmanager does.
func (d *decoder) decodeMatchers(n *yaml.Node, v reflect.Value, path string) {
	if isNull(n) {
		v.SetZero()
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.failf(n, path, "expected a list of matchers, got %s", describe(n))
		return
	}
	var all matcher.Matchers
	for i, item := range n.Content {
		ip := fmt.Sprintf("%s[%d]", path, i)
		item, ok := d.resolve(item)
		if !ok {
			return
		}
		var s string
		if item.Kind != yaml.ScalarNode || item.Decode(&s) != nil {
			d.failf(item, ip, "expected a matcher string, got %s", describe(item))
			continue
		}
		ms, err := d.mode.Parse(s)
		if err != nil {
			d.failf(item, ip, "invalid matcher %q: %w", s, err)
			continue
		}
		all = append(all, ms...)
	}
	slices.SortStableFunc(all, matcher.Compare)
	v.Set(reflect.ValueOf(all))
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	p := v.Addr().Interface()
	before := len(d.errs)
	keyLines := map[string]int{}
	if df, ok := p.(defaulter); ok {
		df.setDefaults()
	}
	if isNull(n) {
		// An empty block ("global:") keeps the defaults.
	} else if n.Kind != yaml.MappingNode {
		d.failf(n, path, "expected a mapping, got %s", describe(n))
		return
	} else {
		fields := fieldsOf(v.Type())
		seen := map[string]int{}
		pairs := d.pairs(n, path)
		pos := positionOf(n, pairs)
		keyLines = pos.keys
		if ps, ok := p.(positioner); ok {
			ps.setPosition(pos)
		}
		for _, kv := range pairs {
			key := kv.key.Value
			if prev, dup := seen[key]; dup {
				d.failf(kv.key, join(path, key), "field already set at line %d", prev)
				continue
			}
			seen[key] = kv.key.Line
			idx, ok := fields[key]
			if !ok {
				var err error
				if uf, ok := p.(unknownFielder); ok {
					err = uf.unknownField(key)
					if err != nil && isEmpty(kv.value) {
						continue // e.g. an unsupported integration with no entries
					}
				}
				if err == nil {
					err = fmt.Errorf("unknown field %q", key)
				}
				d.fail(kv.key, join(path, key), err)
				continue
			}
			d.decode(kv.value, v.FieldByIndex(idx), join(path, key))
		}
	}
	if va, ok := p.(validator); ok && !d.failedDirectly(before, path) {
		// Validated only when its fields decoded cleanly: a rule about a
		// field that failed to decode would only repeat the problem.
		d.failValidation(n, keyLines, path, va.validate())
	}
}

// failedDirectly reports whether one of the errors since the first
// before-th is about a field of the struct at path itself (not a nested one).
func (d *decoder) failedDirectly(before int, path string) bool {
	prefix := join(path, "")
	for _, err := range d.errs[before:] {
		var e *Error
		if errors.As(err, &e) && strings.HasPrefix(e.Path, prefix) && !strings.ContainsAny(e.Path[len(prefix):], ".[") {
			return true
		}
	}
	return false
}

// fieldError attributes a validation error to one field of the struct, so
// that it is reported at that field's path and line.
type fieldError struct {
	field string
	err   error
}

func (e fieldError) Error() string { return e.field + ": " + e.err.Error() }
func (e fieldError) Unwrap() error { return e.err }

// inField attributes err (if any) to field.
func inField(field string, err error) error {
	if err == nil {
		return nil
	}
	return fieldError{field: field, err: err}
}

// failValidation reports a validate() error, split into its joined parts,
// each at its field when it names one.
func (d *decoder) failValidation(n *yaml.Node, keyLines map[string]int, path string, err error) {
	if err == nil {
		return
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			d.failValidation(n, keyLines, path, e)
		}
		return
	}
	var fe fieldError
	if errors.As(err, &fe) {
		line := n.Line
		if l, ok := keyLines[fe.field]; ok {
			line = l
		}
		d.fail(&yaml.Node{Line: line}, join(path, fe.field), fe.err)
		return
	}
	d.fail(n, path, err)
}

type pair struct{ key, value *yaml.Node }

// pairs lists a mapping's entries, with YAML merge keys (<<) expanded:
// explicit keys win over merged ones.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	var own, merged []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			v, ok := d.resolve(v)
			if !ok {
				return nil
			}
			var srcs []*yaml.Node
			if v.Kind == yaml.SequenceNode {
				srcs = v.Content
			} else {
				srcs = []*yaml.Node{v}
			}
			for _, s := range srcs {
				s, ok := d.resolve(s)
				if !ok {
					return nil
				}
				if s.Kind != yaml.MappingNode {
					d.failf(k, path, "merge key (<<) must refer to a mapping")
					continue
				}
				if s == n || !d.enter(s, path) {
					if s == n {
						d.failf(k, path, "merge key (<<) refers to its own mapping")
					}
					continue
				}
				merged = append(merged, d.pairs(s, path)...)
				d.leave(s)
			}
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.failf(k, path, "mapping key must be a string, got %s", describe(k))
			continue
		}
		own = append(own, pair{k, v})
	}
	for _, m := range merged {
		if !slices.ContainsFunc(own, func(p pair) bool { return p.key.Value == m.key.Value }) {
			own = append(own, m)
		}
	}
	return own
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string) {
	if isNull(n) {
		v.SetZero()
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.failf(n, path, "expected a list, got %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	elem := v.Type().Elem()
	for i, item := range n.Content {
		ip := fmt.Sprintf("%s[%d]", path, i)
		if elem.Kind() == reflect.Pointer && elem.Elem().Kind() == reflect.Struct {
			if r, ok := d.resolve(item); ok && isNull(r) {
				d.failf(item, ip, "empty list entry")
				continue
			}
		}
		d.decode(item, s.Index(i), ip)
	}
	v.Set(s)
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if isNull(n) {
		v.SetZero()
		return
	}
	if n.Kind != yaml.MappingNode {
		d.failf(n, path, "expected a mapping, got %s", describe(n))
		return
	}
	if v.Type().Key().Kind() != reflect.String {
		d.decodeForeign(n, v, path)
		return
	}
	m := reflect.MakeMap(v.Type())
	seen := map[string]int{}
	for _, kv := range d.pairs(n, path) {
		key := kv.key.Value
		if prev, dup := seen[key]; dup {
			d.failf(kv.key, join(path, key), "key already set at line %d", prev)
			continue
		}
		seen[key] = kv.key.Line
		val := reflect.New(v.Type().Elem()).Elem()
		d.decode(kv.value, val, join(path, key))
		m.SetMapIndex(reflect.ValueOf(key).Convert(v.Type().Key()), val)
	}
	v.Set(m)
}

func (d *decoder) decodeScalar(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.failf(n, path, "expected a %s, got %s", v.Kind(), describe(n))
		return
	}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		d.fail(n, path, cleanYAMLError(err))
	}
}

// decodeForeign decodes a value whose type brings its own YAML unmarshaller
// (or belongs to another package). Mappings are first checked strictly
// against the type's fields, since yaml.v3 does not check unknown fields when
// decoding a single node.
func (d *decoder) decodeForeign(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.MappingNode && !v.Addr().Type().Implements(unmarshalerV3) {
		if !d.checkKeys(n, v.Type(), path, true) {
			return
		}
	}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		d.fail(n, path, cleanYAMLError(err))
	}
}

// checkKeys reports unknown keys in n for type t and in its nested mappings.
func (d *decoder) checkKeys(n *yaml.Node, t reflect.Type, path string, root bool) bool {
	n, ok := d.resolve(n)
	if !ok {
		return false
	}
	if !root { // decode has entered the root already
		if !d.enter(n, path) {
			return false
		}
		defer d.leave(n)
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerV3) {
		return true // it sees the node and checks it itself
	}
	good := true
	switch {
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct:
		fields := fieldsOf(t)
		if fields == nil { // a struct with an inline map accepts any key
			return true
		}
		for _, kv := range d.pairs(n, path) {
			idx, ok := fields[kv.key.Value]
			if !ok {
				d.failf(kv.key, join(path, kv.key.Value), "unknown field %q", kv.key.Value)
				good = false
				continue
			}
			good = d.checkKeys(kv.value, t.FieldByIndex(idx).Type, join(path, kv.key.Value), false) && good
		}
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Map:
		for _, kv := range d.pairs(n, path) {
			good = d.checkKeys(kv.value, t.Elem(), join(path, kv.key.Value), false) && good
		}
	case n.Kind == yaml.SequenceNode && t.Kind() == reflect.Slice:
		for i, item := range n.Content {
			good = d.checkKeys(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), false) && good
		}
	}
	return good
}

// fieldsOf maps YAML keys to struct field indexes, following inline and
// untagged embedded structs. It returns nil when the struct inlines a map
// (any key is accepted).
func fieldsOf(t reflect.Type) map[string][]int {
	out := map[string][]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		inline := strings.Contains(","+opts+",", ",inline,") || (f.Anonymous && tag == "")
		if inline {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Map {
				return nil
			}
			if ft.Kind() == reflect.Struct {
				sub := fieldsOf(ft)
				if sub == nil {
					return nil
				}
				for k, idx := range sub {
					out[k] = append([]int{i}, idx...)
				}
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = []int{i}
	}
	return out
}

var yamlLinePrefix = regexp.MustCompile(`^line \d+: `)

// cleanYAMLError strips yaml.v3's "yaml: unmarshal errors:" wrapping and
// line prefixes, since Error carries the line itself.
func cleanYAMLError(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, len(te.Errors))
		for i, m := range te.Errors {
			msgs[i] = yamlLinePrefix.ReplaceAllString(m, "")
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	return err
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "null"
		}
		switch n.ShortTag() {
		case "!!str":
			return "a string"
		case "!!int", "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		}
		return "a scalar"
	}
	return "an alias"
}
