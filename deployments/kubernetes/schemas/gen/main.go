// Command gen writes the JSON schemas that kubeconform checks Klaxon's
// Kubernetes manifests against, for exactly the kinds they use, in
// kubeconform's file layout ({kind}-{group}-{version}.json). No schema
// registry is reachable from CI, so the schemas are generated here from
// the Go types of the Kubernetes API (k8s.io/api) and of the Prometheus
// Operator, the types the API servers decode into:
//
//   - every field with its JSON type; no other field (strict);
//   - a field is required when its json tag has no omitempty, the rule of
//     Kubernetes' OpenAPI generator and of controller-gen;
//   - apiVersion and kind must be the kind's.
//
// Run from this directory: go run . .. (it has its own go.mod so that the
// Kubernetes modules stay out of Klaxon's).
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// kinds are the kinds the manifests use.
var kinds = []struct {
	apiVersion, kind string
	obj              any
}{
	{"v1", "Namespace", corev1.Namespace{}},
	{"v1", "Service", corev1.Service{}},
	{"v1", "ConfigMap", corev1.ConfigMap{}},
	{"v1", "Secret", corev1.Secret{}},
	{"apps/v1", "Deployment", appsv1.Deployment{}},
	{"apps/v1", "StatefulSet", appsv1.StatefulSet{}},
	{"policy/v1", "PodDisruptionBudget", policyv1.PodDisruptionBudget{}},
	{"networking.k8s.io/v1", "NetworkPolicy", networkingv1.NetworkPolicy{}},
	{"monitoring.coreos.com/v1", "ServiceMonitor", monitoringv1.ServiceMonitor{}},
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gen DIR")
		os.Exit(2)
	}
	for _, k := range kinds {
		g := generator{defs: map[string]any{}}
		root := g.object(reflect.TypeOf(k.obj))
		props := root["properties"].(map[string]any)
		props["apiVersion"] = map[string]any{"type": "string", "enum": []string{k.apiVersion}}
		props["kind"] = map[string]any{"type": "string", "enum": []string{k.kind}}
		root["required"] = appendUnique(root["required"], "apiVersion", "kind")
		root["$schema"] = "http://json-schema.org/draft-07/schema#"
		root["definitions"] = g.defs
		out, err := json.Marshal(root)
		if err != nil {
			panic(err)
		}
		path := filepath.Join(os.Args[1], fileName(k.apiVersion, k.kind))
		if err := os.WriteFile(path, append(out, '\n'), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}

// fileName is kubeconform's {{ .ResourceKind }}{{ .KindSuffix }}.json.
func fileName(apiVersion, kind string) string {
	group, version, found := strings.Cut(apiVersion, "/")
	suffix := "-" + strings.ToLower(strings.Split(group, ".")[0])
	if found {
		suffix += "-" + strings.ToLower(version)
	}
	return strings.ToLower(kind) + suffix + ".json"
}

type generator struct{ defs map[string]any }

var marshaler = reflect.TypeFor[json.Marshaler]()

// schema is the schema of a value of type t.
func (g *generator) schema(t reflect.Type) map[string]any {
	switch t {
	case reflect.TypeFor[resource.Quantity]():
		return map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}}
	case reflect.TypeFor[intstr.IntOrString]():
		return map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}}
	case reflect.TypeFor[metav1.Time](), reflect.TypeFor[metav1.MicroTime](), reflect.TypeFor[metav1.Duration]():
		return map[string]any{"type": "string"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.schema(t.Elem())
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string"} // base64
		}
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.Struct:
		if reflect.PointerTo(t).Implements(marshaler) || t.Implements(marshaler) {
			return map[string]any{} // its own JSON form (RawExtension, JSON): anything
		}
		name := strings.NewReplacer("/", ".", "-", "_").Replace(t.PkgPath()) + "." + t.Name()
		if _, ok := g.defs[name]; !ok {
			g.defs[name] = nil // a recursive type refers to itself
			g.defs[name] = g.object(t)
		}
		return map[string]any{"$ref": "#/definitions/" + name}
	}
	return map[string]any{} // interface{}: anything
}

// object is the strict schema of struct t.
func (g *generator) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	g.fields(t, props, &required)
	sort.Strings(required)
	o := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

// fields adds the JSON fields of struct t, with those of its inlined
// structs.
func (g *generator) fields(t reflect.Type, props map[string]any, required *[]string) {
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if (f.Anonymous && name == "") || strings.Contains(","+opts+",", ",inline,") {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			g.fields(ft, props, required)
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = g.schema(f.Type)
		if !strings.Contains(","+opts+",", ",omitempty,") && !strings.Contains(","+opts+",", ",omitzero,") {
			*required = append(*required, name)
		}
	}
}

func appendUnique(list any, names ...string) []string {
	out, _ := list.([]string)
	for _, n := range names {
		found := false
		for _, o := range out {
			found = found || o == n
		}
		if !found {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}
