package snapshot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	svcYAML = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {clusterIP: 198.18.0.5, ports: [{port: 80, protocol: TCP}]}
`
	sliceYAML = `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-x1, namespace: shop, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
endpoints: [{addresses: [198.19.1.5], conditions: {ready: true}, nodeName: node-a}]
`
	nodeYAML = `apiVersion: v1
kind: Node
metadata: {name: node-a, labels: {topology.kubernetes.io/zone: zone-a}}
status: {addresses: [{type: InternalIP, address: 198.18.128.11}]}
`
	svcJSON   = `{"apiVersion":"v1","kind":"Service","metadata":{"name":"api","namespace":"shop"},"spec":{"clusterIP":"198.18.0.6"}}`
	sliceJSON = `{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"api-x1","namespace":"shop"},"addressType":"IPv4"}`
	nodeJSON  = `{"apiVersion":"v1","kind":"Node","metadata":{"name":"node-b"}}`
)

// names summarises a snapshot as "Service ns/name" lines.
func names(s *Snapshot) []string {
	var out []string
	for _, o := range s.Services {
		out = append(out, "Service "+o.Namespace+"/"+o.Name)
	}
	for _, o := range s.EndpointSlices {
		out = append(out, "EndpointSlice "+o.Namespace+"/"+o.Name)
	}
	for _, o := range s.Nodes {
		out = append(out, "Node "+o.Name)
	}
	return out
}

// indent indents every line of text by n spaces.
func indent(text string, n int) string {
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(strings.TrimSuffix(text, "\n"), "\n", "\n"+pad) + "\n"
}

// kubectlList wraps YAML objects in a List the way kubectl -o yaml does.
func kubectlList(objs ...string) string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nitems:\n")
	for _, o := range objs {
		b.WriteString("- " + strings.TrimPrefix(indent(o, 2), "  "))
	}
	b.WriteString("kind: List\nmetadata:\n  resourceVersion: \"\"\n")
	return b.String()
}

func TestRead(t *testing.T) {
	all := []string{"Service shop/web", "EndpointSlice shop/web-x1", "Node node-a"}
	tests := []struct {
		name         string
		input        string
		want         []string
		wantWarnings []string
	}{
		{name: "multi-document YAML", input: svcYAML + "---\n" + sliceYAML + "---\n" + nodeYAML, want: all},
		{name: "empty documents and comments", input: "---\n# nothing\n---\n" + svcYAML + "---\n---\n", want: []string{"Service shop/web"}},
		{name: "kubectl List", input: kubectlList(svcYAML, sliceYAML, nodeYAML), want: all},
		{name: "JSON objects, concatenated", input: svcJSON + "\n" + sliceJSON + nodeJSON,
			want: []string{"Service shop/api", "EndpointSlice shop/api-x1", "Node node-b"}},
		{name: "kubectl -o json List", input: `{"apiVersion":"v1","kind":"List","items":[` + svcJSON + "," + nodeJSON + `],"metadata":{"resourceVersion":""}}`,
			want: []string{"Service shop/api", "Node node-b"}},
		{name: "typed lists", input: `{"apiVersion":"v1","kind":"ServiceList","items":[` + svcJSON + `]}` +
			`{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSliceList","items":[` + sliceJSON + `]}` +
			`{"apiVersion":"v1","kind":"NodeList","items":[` + nodeJSON + `]}`,
			want: []string{"Service shop/api", "EndpointSlice shop/api-x1", "Node node-b"}},
		{
			name:  "sorted by namespace and name",
			input: strings.ReplaceAll(svcYAML, "web", "zeta") + "---\n" + svcYAML + "---\n" + strings.ReplaceAll(svcYAML, "shop", "auth"),
			want:  []string{"Service auth/web", "Service shop/web", "Service shop/zeta"},
		},
		{
			name:         "other kinds are skipped",
			input:        kubectlList(svcYAML, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, namespace: shop}\n"),
			want:         []string{"Service shop/web"},
			wantWarnings: []string{"in: document 1, item 2: Deployment shop/web (apps/v1) is not a kind ipvs-proxy reads; skipped", "in: document 1, item 3: ConfigMap shop/cm (v1) is not a kind ipvs-proxy reads; skipped"},
		},
		{
			name:         "old EndpointSlice version is skipped",
			input:        strings.Replace(sliceYAML, "discovery.k8s.io/v1", "discovery.k8s.io/v1beta1", 1),
			wantWarnings: []string{"in: document 1: EndpointSlice shop/web-x1 (discovery.k8s.io/v1beta1) is not a kind ipvs-proxy reads; skipped"},
		},
		{
			name:         "object without kind is skipped",
			input:        "metadata: {name: web}\nspec: {}\n---\n" + svcYAML,
			want:         []string{"Service shop/web"},
			wantWarnings: []string{"in: document 1: object web has no apiVersion or kind; skipped"},
		},
		{
			name:         "object that does not decode is skipped",
			input:        strings.Replace(svcYAML, "port: 80", "port: eighty", 1) + "---\n" + nodeYAML,
			want:         []string{"Node node-a"},
			wantWarnings: []string{"in: document 1: Service shop/web does not decode: "},
		},
		{
			name:         "a duplicate replaces the earlier copy",
			input:        svcYAML + "---\n" + strings.Replace(svcYAML, "198.18.0.5", "198.18.0.7", 1),
			want:         []string{"Service shop/web"},
			wantWarnings: []string{"in: document 2: Service shop/web appears again; the later copy is used"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r Reader
			if err := r.Read(strings.NewReader(tc.input), "in"); err != nil {
				t.Fatalf("Read: %v", err)
			}
			if diff := cmp.Diff(tc.want, names(r.Snapshot())); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
			warnings := r.Warnings()
			if len(warnings) != len(tc.wantWarnings) {
				t.Fatalf("warnings = %q, want %q", warnings, tc.wantWarnings)
			}
			for i, w := range tc.wantWarnings {
				if !strings.HasPrefix(warnings[i], w) {
					t.Errorf("warning %d = %q, want prefix %q", i, warnings[i], w)
				}
			}
		})
	}
}

func TestReadKeepsLaterDuplicate(t *testing.T) {
	var r Reader
	input := svcYAML + "---\n" + strings.Replace(svcYAML, "198.18.0.5", "198.18.0.7", 1)
	if err := r.Read(strings.NewReader(input), "in"); err != nil {
		t.Fatal(err)
	}
	if got := r.Snapshot().Services[0].Spec.ClusterIP; got != "198.18.0.7" {
		t.Errorf("clusterIP = %s, want the later copy's 198.18.0.7", got)
	}
}

func TestReadFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	svcFile := write("svc.yaml", svcYAML)
	write("objs/b-node.json", nodeJSON)
	write("objs/a-slice.yml", sliceYAML)
	write("objs/notes.txt", "not read")
	badFile := write("bad.yaml", svcYAML+"---\nspec: [\n")
	tests := []struct {
		name    string
		paths   []string
		stdin   string
		want    []string
		wantErr string
	}{
		{name: "file and stdin", paths: []string{svcFile, "-"}, stdin: nodeYAML, want: []string{"Service shop/web", "Node node-a"}},
		{name: "directory: .yaml, .yml and .json files", paths: []string{filepath.Join(dir, "objs")},
			want: []string{"EndpointSlice shop/web-x1", "Node node-b"}},
		{name: "missing file", paths: []string{filepath.Join(dir, "absent.yaml")}, wantErr: "no such file or directory"},
		{name: "syntax error names file and document", paths: []string{badFile}, wantErr: badFile + ": document 2: "},
		{name: "stdin twice", paths: []string{"-", "-"}, wantErr: "standard input (-f -) given twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			snap, _, err := ReadFiles(tc.paths, strings.NewReader(tc.stdin))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, names(snap)); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
		})
	}
}

// TestReadClusterDump reads the committed kubectl dump: every item is one
// of the three kinds and none is lost or warned about.
func TestReadClusterDump(t *testing.T) {
	snap, warnings, err := ReadFiles([]string{"../../../test/testdata/cluster.yaml"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings: %q", warnings)
	}
	if got := []int{len(snap.Services), len(snap.EndpointSlices), len(snap.Nodes)}; !cmp.Equal(got, []int{28, 30, 3}) {
		t.Errorf("services, slices, nodes = %v, want [28 30 3]", got)
	}
}
