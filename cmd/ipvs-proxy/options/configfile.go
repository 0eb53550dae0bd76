package options

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	kubeproxy "k8s.io/kube-proxy/config/v1alpha1"
)

var (
	configScheme  = newConfigScheme()
	strictCodecs  = serializer.NewCodecFactory(configScheme, serializer.EnableStrict)
	lenientCodecs = serializer.NewCodecFactory(configScheme)
)

func newConfigScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := kubeproxy.AddToScheme(s); err != nil {
		panic(err) // registering a static type list cannot fail
	}
	return s
}

// LoadFile reads a KubeProxyConfiguration from the file at path; see Load.
func LoadFile(path string, supported []string) (*kubeproxy.KubeProxyConfiguration, []string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read config: %w", err)
	}
	cfg, warnings, err := Load(data, supported)
	if err != nil {
		return nil, nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, warnings, nil
}

// Load decodes one KubeProxyConfiguration document, YAML or JSON. Like
// kube-proxy, it decodes strictly first and, when that fails only on unknown
// or duplicate fields, warns about each and decodes leniently. Every field
// set to a non-zero value whose JSON path is not in supported (nor below a
// supported path) gets one warning. No defaults are applied: a zero field
// means "not set".
func Load(data []byte, supported []string) (*kubeproxy.KubeProxyConfiguration, []string, error) {
	var warnings []string
	obj, gvk, err := strictCodecs.UniversalDeserializer().Decode(data, nil, nil)
	if strict, ok := runtime.AsStrictDecodingError(err); ok {
		for _, e := range strict.Errors() {
			warnings = append(warnings, "config: "+e.Error()+"; ignored")
		}
		obj, gvk, err = lenientCodecs.UniversalDeserializer().Decode(data, nil, nil)
	}
	if err != nil {
		if runtime.IsNotRegisteredError(err) || runtime.IsMissingKind(err) || runtime.IsMissingVersion(err) {
			return nil, nil, fmt.Errorf("not a KubeProxyConfiguration (%s): %w", kubeproxy.SchemeGroupVersion, err)
		}
		return nil, nil, err
	}
	cfg, ok := obj.(*kubeproxy.KubeProxyConfiguration)
	if !ok {
		return nil, nil, fmt.Errorf("got %s, want KubeProxyConfiguration", gvk)
	}
	for _, path := range SetFields(cfg) {
		if !isSupported(path, supported) {
			warnings = append(warnings, fmt.Sprintf("config: field %s is not supported; ignored", path))
		}
	}
	return cfg, warnings, nil
}

// isSupported reports whether path or one of its parents is in supported.
func isSupported(path string, supported []string) bool {
	for p := path; ; {
		if slices.Contains(supported, p) {
			return true
		}
		i := strings.LastIndexByte(p, '.')
		if i < 0 {
			return false
		}
		p = p[:i]
	}
}

// SetFields returns the JSON paths ("ipvs.strictARP", "featureGates.Foo") of
// the fields of cfg that hold a non-zero value, in declaration order.
func SetFields(cfg *kubeproxy.KubeProxyConfiguration) []string {
	var out []string
	walkSet(reflect.ValueOf(cfg).Elem(), "", &out)
	return out
}

var (
	marshalerType = reflect.TypeFor[json.Marshaler]()
	zeroerType    = reflect.TypeFor[interface{ IsZero() bool }]()
)

// walkSet appends to out the paths below v that hold a non-zero value.
// Structs that marshal themselves (durations, quantities) are leaves.
func walkSet(v reflect.Value, path string, out *[]string) {
	switch {
	case v.CanAddr() && v.Addr().Type().Implements(zeroerType):
		if !v.Addr().Interface().(interface{ IsZero() bool }).IsZero() {
			*out = append(*out, path)
		}
	case v.Kind() == reflect.Struct && !reflect.PointerTo(v.Type()).Implements(marshalerType):
		walkStruct(v, path, out)
	case v.Kind() == reflect.Map:
		keys := make([]string, 0, v.Len())
		for _, k := range v.MapKeys() {
			keys = append(keys, fmt.Sprint(k.Interface()))
		}
		sort.Strings(keys)
		for _, k := range keys {
			*out = append(*out, join(path, k))
		}
	case v.Kind() == reflect.Slice:
		if v.Len() > 0 {
			*out = append(*out, path)
		}
	default:
		if !v.IsZero() {
			*out = append(*out, path)
		}
	}
}

func walkStruct(v reflect.Value, path string, out *[]string) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && name == "" {
			// Inlined: TypeMeta (apiVersion and kind, always set) is not a
			// setting; other embedded structs share their parent's path.
			if f.Name != "TypeMeta" {
				walkSet(v.Field(i), path, out)
			}
			continue
		}
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		walkSet(v.Field(i), join(path, name), out)
	}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
