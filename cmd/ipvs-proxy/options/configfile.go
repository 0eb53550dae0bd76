package options

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kubeproxy "k8s.io/kube-proxy/config/v1alpha1"
	"sigs.k8s.io/yaml"

	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/configwatch"
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

// File is a parsed configuration file: kube-proxy's configuration and
// ipvs-proxy's own, each zero when its document is absent.
type File struct {
	KubeProxy kubeproxy.KubeProxyConfiguration
	IPVSProxy IPVSProxyConfiguration
	// Sum identifies the bytes read (set by LoadFile), which the daemon
	// watches for a change.
	Sum configwatch.Sum
}

// LoadFile reads the configuration file at path; see Load.
func LoadFile(path string, supported []string) (*File, []string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read config: %w", err)
	}
	f, warnings, err := Load(data, supported)
	if err != nil {
		return nil, nil, fmt.Errorf("config %s: %w", path, err)
	}
	f.Sum = configwatch.SumOf(data)
	return f, warnings, nil
}

// Load decodes a configuration file: a KubeProxyConfiguration document
// (kubeproxy.config.k8s.io/v1alpha1), an IPVSProxyConfiguration document
// (ipvs-proxy.io/v1alpha1), or both separated by "---", in any order. Every
// field set to a non-zero value whose path is not in supported (nor below a
// supported path) gets one warning; the paths of IPVSProxyConfiguration
// fields start with "IPVSProxyConfiguration.". No defaults are applied: a
// zero field means "not set".
func Load(data []byte, supported []string) (*File, []string, error) {
	docs, err := splitDocuments(data)
	if err != nil {
		return nil, nil, err
	}
	var f File
	var warnings []string
	seen := map[string]bool{}
	for _, doc := range docs {
		var tm metav1.TypeMeta
		_ = yaml.Unmarshal(doc, &tm) // a broken document fails in its decoder below
		kind := "KubeProxyConfiguration"
		if tm.Kind == IPVSProxyKind {
			kind = IPVSProxyKind
		}
		if seen[kind] {
			return nil, nil, fmt.Errorf("more than one %s document", kind)
		}
		seen[kind] = true
		var w []string
		if kind == IPVSProxyKind {
			w, err = loadIPVSProxy(doc, &f.IPVSProxy, supported)
		} else {
			w, err = loadKubeProxy(doc, &f.KubeProxy, supported)
		}
		if err != nil {
			return nil, nil, err
		}
		warnings = append(warnings, w...)
	}
	return &f, warnings, nil
}

// splitDocuments returns the YAML documents of data that hold anything but
// comments. A file without any is not a configuration.
func splitDocuments(data []byte) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := yaml.Unmarshal(doc, &m); err == nil && len(m) == 0 {
			continue
		}
		docs = append(docs, doc)
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("not a KubeProxyConfiguration (%s): empty file", kubeproxy.SchemeGroupVersion)
	}
	return docs, nil
}

// loadKubeProxy decodes one KubeProxyConfiguration document, YAML or JSON,
// into cfg. Like kube-proxy, it decodes strictly first and, when that fails
// only on unknown or duplicate fields, warns about each and decodes
// leniently.
func loadKubeProxy(doc []byte, cfg *kubeproxy.KubeProxyConfiguration, supported []string) ([]string, error) {
	var warnings []string
	obj, gvk, err := strictCodecs.UniversalDeserializer().Decode(doc, nil, nil)
	if strict, ok := runtime.AsStrictDecodingError(err); ok {
		for _, e := range strict.Errors() {
			warnings = append(warnings, "config: "+e.Error()+"; ignored")
		}
		obj, gvk, err = lenientCodecs.UniversalDeserializer().Decode(doc, nil, nil)
	}
	if err != nil {
		if runtime.IsNotRegisteredError(err) || runtime.IsMissingKind(err) || runtime.IsMissingVersion(err) {
			return nil, fmt.Errorf("not a KubeProxyConfiguration (%s) or %s (%s): %w",
				kubeproxy.SchemeGroupVersion, IPVSProxyKind, IPVSProxyAPIVersion, err)
		}
		return nil, err
	}
	decoded, ok := obj.(*kubeproxy.KubeProxyConfiguration)
	if !ok {
		return nil, fmt.Errorf("got %s, want KubeProxyConfiguration", gvk)
	}
	*cfg = *decoded
	return append(warnings, unsupportedWarnings(SetFields(cfg), "", supported)...), nil
}

// loadIPVSProxy decodes one IPVSProxyConfiguration document into cfg,
// strictly first, then leniently with a warning when the document has
// unknown fields.
func loadIPVSProxy(doc []byte, cfg *IPVSProxyConfiguration, supported []string) ([]string, error) {
	var warnings []string
	if err := yaml.UnmarshalStrict(doc, cfg); err != nil {
		*cfg = IPVSProxyConfiguration{}
		if lenientErr := yaml.Unmarshal(doc, cfg); lenientErr != nil {
			return nil, fmt.Errorf("%s: %w", IPVSProxyKind, lenientErr)
		}
		// sigs.k8s.io/yaml wraps encoding/json's message twice.
		msg := strings.TrimPrefix(err.Error(), "error unmarshaling JSON: while decoding JSON: json: ")
		warnings = append(warnings, fmt.Sprintf("config: %s: %s; ignored", IPVSProxyKind, msg))
	}
	if cfg.APIVersion != IPVSProxyAPIVersion {
		return nil, fmt.Errorf("%s: apiVersion %q is not supported: want %s", IPVSProxyKind, cfg.APIVersion, IPVSProxyAPIVersion)
	}
	var set []string
	walkSet(reflect.ValueOf(cfg).Elem(), "", &set)
	return append(warnings, unsupportedWarnings(set, IPVSProxyKind+".", supported)...), nil
}

// unsupportedWarnings returns one warning per path (after prefix) that is
// not supported.
func unsupportedWarnings(paths []string, prefix string, supported []string) []string {
	var warnings []string
	for _, p := range paths {
		if !isSupported(prefix+p, supported) {
			warnings = append(warnings, fmt.Sprintf("config: field %s%s is not supported; ignored", prefix, p))
		}
	}
	return warnings
}
