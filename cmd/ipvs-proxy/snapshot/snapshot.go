// Package snapshot reads, offline, the Kubernetes objects a node's proxy
// watches — Services, EndpointSlices and Nodes — from files, so that
// `ipvs-proxy plan` can build a node's desired state without an API server.
//
// It accepts what kubectl writes and what people keep in repositories: a
// `kind: List` as printed by `kubectl get svc,endpointslices,nodes -A -o
// yaml` (or -o json), typed lists (ServiceList, ...), single objects, and
// multi-document YAML or concatenated JSON:
//
//	files ─► documents (YAML or JSON stream) ─► objects (List items unpacked,
//	      decoded by a scheme holding core/v1 and discovery.k8s.io/v1)
//	      ─► Snapshot{Services, EndpointSlices, Nodes}, deduplicated, sorted
//
// Objects of other kinds or versions, and objects that do not decode, are
// reported as warnings and skipped; only an unreadable file or a document
// that is not YAML or JSON is an error.
package snapshot

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/yaml"
)

// Snapshot is a set of cluster objects, each at most once, sorted by
// namespace and name.
type Snapshot struct {
	Services       []*v1.Service
	EndpointSlices []*discovery.EndpointSlice
	Nodes          []*v1.Node
}

// Stdin is the file name that reads standard input, as kubectl's -f -.
const Stdin = "-"

// extensions are the file names read from a directory, as kubectl does.
var extensions = []string{".yaml", ".yml", ".json"}

// Reader accumulates objects from several sources. The zero value is ready
// to use.
type Reader struct {
	// Stdin is read for the file name "-".
	Stdin io.Reader

	services  map[types.NamespacedName]*v1.Service
	slices    map[types.NamespacedName]*discovery.EndpointSlice
	nodes     map[string]*v1.Node
	warnings  []string
	readStdin bool
}

// ReadFiles reads every path ("-" is stdin, a directory is read for its
// .yaml, .yml and .json files) and returns the snapshot and the warnings,
// one line each.
func ReadFiles(paths []string, stdin io.Reader) (*Snapshot, []string, error) {
	r := &Reader{Stdin: stdin}
	for _, p := range paths {
		if err := r.ReadPath(p); err != nil {
			return nil, r.warnings, err
		}
	}
	return r.Snapshot(), r.warnings, nil
}

// ReadPath reads one file, directory or "-" (standard input, once).
func (r *Reader) ReadPath(path string) error {
	if path == Stdin {
		if r.readStdin {
			return errors.New("standard input (-f -) given twice")
		}
		r.readStdin = true
		if r.Stdin == nil {
			return errors.New("no standard input to read")
		}
		return r.Read(r.Stdin, "<stdin>")
	}
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !info.IsDir() {
		return r.readFile(path)
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return err
	}
	for _, e := range entries { // sorted by name
		if !e.IsDir() && slices.Contains(extensions, filepath.Ext(e.Name())) {
			if err := r.readFile(filepath.Join(path, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *Reader) readFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return r.Read(f, path)
}

// Read reads a stream of YAML documents or JSON values; source names it in
// warnings and errors.
func (r *Reader) Read(in io.Reader, source string) error {
	dec := yaml.NewYAMLOrJSONDecoder(in, 4096)
	for doc := 1; ; doc++ {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: document %d: %w", source, doc, err)
		}
		if isEmpty(raw) {
			continue
		}
		r.add(raw, fmt.Sprintf("%s: document %d", source, doc))
	}
}

// isEmpty reports whether a document holds nothing (an empty YAML document
// decodes to null).
func isEmpty(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s == "" || s == "null" || s == "{}"
}

var (
	scheme = newScheme()
	codecs = serializer.NewCodecFactory(scheme)
)

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{v1.AddToScheme, discovery.AddToScheme} {
		if err := add(s); err != nil {
			panic(err) // registering static type lists cannot fail
		}
	}
	return s
}

// header is what identifies an object in a warning, read before decoding it.
type header struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	} `json:"metadata"`
}

func (h header) String() string {
	name := h.Metadata.Name
	if h.Metadata.Namespace != "" {
		name = h.Metadata.Namespace + "/" + name
	}
	kind := h.Kind
	if kind == "" {
		kind = "object"
	}
	if name == "" {
		return kind
	}
	return kind + " " + name
}

// add decodes one object (unpacking lists) and stores it; at is its place
// in the input.
func (r *Reader) add(raw []byte, at string) {
	var h header
	_ = json.Unmarshal(raw, &h) // best effort: only names the object in warnings
	obj, gvk, err := codecs.UniversalDeserializer().Decode(raw, nil, nil)
	switch {
	case runtime.IsMissingKind(err) || runtime.IsMissingVersion(err):
		r.warnf("%s: %s has no apiVersion or kind; skipped", at, h)
		return
	case runtime.IsNotRegisteredError(err):
		r.warnf("%s: %s (%s) is not a kind ipvs-proxy reads; skipped", at, h, h.APIVersion)
		return
	case err != nil:
		r.warnf("%s: %s does not decode: %v; skipped", at, h, err)
		return
	}
	switch o := obj.(type) {
	case *v1.List:
		for i, item := range o.Items {
			r.add(item.Raw, fmt.Sprintf("%s, item %d", at, i+1))
		}
	case *v1.ServiceList:
		for i := range o.Items {
			r.addService(&o.Items[i], at)
		}
	case *discovery.EndpointSliceList:
		for i := range o.Items {
			r.addSlice(&o.Items[i], at)
		}
	case *v1.NodeList:
		for i := range o.Items {
			r.addNode(&o.Items[i], at)
		}
	case *v1.Service:
		r.addService(o, at)
	case *discovery.EndpointSlice:
		r.addSlice(o, at)
	case *v1.Node:
		r.addNode(o, at)
	default:
		r.warnf("%s: %s (%s) is not a kind ipvs-proxy reads; skipped", at, h, gvk.GroupVersion())
	}
}

func (r *Reader) addService(s *v1.Service, at string) {
	if r.services == nil {
		r.services = map[types.NamespacedName]*v1.Service{}
	}
	key := types.NamespacedName{Namespace: s.Namespace, Name: s.Name}
	if _, dup := r.services[key]; dup {
		r.warnf("%s: Service %s appears again; the later copy is used", at, key)
	}
	r.services[key] = s
}

func (r *Reader) addSlice(s *discovery.EndpointSlice, at string) {
	if r.slices == nil {
		r.slices = map[types.NamespacedName]*discovery.EndpointSlice{}
	}
	key := types.NamespacedName{Namespace: s.Namespace, Name: s.Name}
	if _, dup := r.slices[key]; dup {
		r.warnf("%s: EndpointSlice %s appears again; the later copy is used", at, key)
	}
	r.slices[key] = s
}

func (r *Reader) addNode(n *v1.Node, at string) {
	if r.nodes == nil {
		r.nodes = map[string]*v1.Node{}
	}
	if _, dup := r.nodes[n.Name]; dup {
		r.warnf("%s: Node %s appears again; the later copy is used", at, n.Name)
	}
	r.nodes[n.Name] = n
}

func (r *Reader) warnf(format string, args ...any) {
	r.warnings = append(r.warnings, fmt.Sprintf(format, args...))
}

// Warnings returns the warnings so far, one line each.
func (r *Reader) Warnings() []string { return slices.Clone(r.warnings) }

// Snapshot returns the objects read so far, sorted by namespace and name.
func (r *Reader) Snapshot() *Snapshot {
	return &Snapshot{
		Services:       sortedValues(r.services, compareKey),
		EndpointSlices: sortedValues(r.slices, compareKey),
		Nodes:          sortedValues(r.nodes, strings.Compare),
	}
}

func compareKey(a, b types.NamespacedName) int {
	return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
}

func sortedValues[K comparable, V any](m map[K]V, compare func(a, b K) int) []V {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compare)
	out := make([]V, 0, len(keys))
	for _, k := range keys {
		out = append(out, m[k])
	}
	return out
}

// NodeNames returns the names of the Nodes, sorted.
func (s *Snapshot) NodeNames() []string {
	out := make([]string, 0, len(s.Nodes))
	for _, n := range s.Nodes {
		out = append(out, n.Name)
	}
	return out
}
