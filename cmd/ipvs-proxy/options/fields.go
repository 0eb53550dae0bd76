package options

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	kubeproxy "k8s.io/kube-proxy/config/v1alpha1"
)

// Configuration fields are named by their JSON paths, such as
// "ipvs.strictARP" or "featureGates.Foo". The walkers below map a
// configuration struct to those paths by its json tags.

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

// isLeaf reports whether v is a single setting although it may be a struct:
// types that marshal themselves (durations, quantities) or know when they
// are zero.
func isLeaf(v reflect.Value) bool {
	if v.CanAddr() && v.Addr().Type().Implements(zeroerType) {
		return true
	}
	return v.Kind() == reflect.Struct && reflect.PointerTo(v.Type()).Implements(marshalerType)
}

// isZero reports whether the leaf v holds its zero value.
func isZero(v reflect.Value) bool {
	if v.CanAddr() && v.Addr().Type().Implements(zeroerType) {
		return v.Addr().Interface().(interface{ IsZero() bool }).IsZero()
	}
	return v.IsZero()
}

// walkSet appends to out the paths below v that hold a non-zero value.
func walkSet(v reflect.Value, path string, out *[]string) {
	switch {
	case isLeaf(v):
		if !isZero(v) {
			*out = append(*out, path)
		}
	case v.Kind() == reflect.Struct:
		eachField(v, path, func(f reflect.Value, p string) { walkSet(f, p, out) })
	case v.Kind() == reflect.Map:
		for _, k := range mapKeys(v) {
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

// clearUnsupported zeroes the fields below v whose path is not supported,
// so that the effective configuration holds only what the command uses.
func clearUnsupported(v reflect.Value, path string, supported []string) {
	if path != "" && isSupported(path, supported) {
		return
	}
	switch {
	case isLeaf(v):
		v.SetZero()
	case v.Kind() == reflect.Struct:
		eachField(v, path, func(f reflect.Value, p string) { clearUnsupported(f, p, supported) })
	case v.Kind() == reflect.Map:
		for _, k := range v.MapKeys() {
			if !isSupported(join(path, fmt.Sprint(k.Interface())), supported) {
				v.SetMapIndex(k, reflect.Value{})
			}
		}
	default:
		v.SetZero()
	}
}

// eachField calls fn with each settable field of the struct v and its path.
// Inlined TypeMeta (apiVersion and kind) is not a setting; other embedded
// structs share their parent's path.
func eachField(v reflect.Value, path string, fn func(f reflect.Value, path string)) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case f.Anonymous && name == "":
			if f.Name != "TypeMeta" {
				fn(v.Field(i), path)
			}
		case name == "-":
		case name == "":
			fn(v.Field(i), join(path, f.Name))
		default:
			fn(v.Field(i), join(path, name))
		}
	}
}

func mapKeys(v reflect.Value) []string {
	keys := make([]string, 0, v.Len())
	for _, k := range v.MapKeys() {
		keys = append(keys, fmt.Sprint(k.Interface()))
	}
	sort.Strings(keys)
	return keys
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
