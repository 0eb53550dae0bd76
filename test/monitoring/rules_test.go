package monitoring

import (
	"bytes"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"go.yaml.in/yaml/v3"
)

const (
	rulesFile = "../../manifests/monitoring/prometheusrule.yaml"
	// runbooksDoc holds one section per alert, titled with its name.
	runbooksDoc = "../../docs/monitoring.md"
	runbookURL  = "https://github.com/ipvs-proxy/ipvs-proxy/blob/main/docs/monitoring.md#"
)

// prometheusRule is the Prometheus Operator's PrometheusRule, whose spec is
// a Prometheus rule file.
type prometheusRule struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Spec yaml.Node `yaml:"spec"`
}

// readRules decodes the PrometheusRule strictly and validates its spec
// with Prometheus's own rule-file parser (rulefmt: fields, durations, label
// names, expressions and annotation templates).
func readRules(t *testing.T) *rulefmt.RuleGroups {
	t.Helper()
	b, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var pr prometheusRule
	if err := dec.Decode(&pr); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	if pr.APIVersion != "monitoring.coreos.com/v1" || pr.Kind != "PrometheusRule" || pr.Metadata.Name == "" {
		t.Fatalf("%s: %s %s %q: want a named monitoring.coreos.com/v1 PrometheusRule", rulesFile, pr.APIVersion, pr.Kind, pr.Metadata.Name)
	}
	spec, err := yaml.Marshal(&pr.Spec)
	if err != nil {
		t.Fatal(err)
	}
	groups, errs := rulefmt.Parse(spec, false, model.UTF8Validation, pqlParser, slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Errorf("%s: %v", rulesFile, err)
	}
	if groups == nil || len(errs) > 0 {
		t.FailNow()
	}
	return groups
}

func ruleQueries(g *rulefmt.RuleGroups) []query {
	var out []query
	for _, grp := range g.Groups {
		for _, r := range grp.Rules {
			out = append(out, query{where: "rule " + r.Alert + r.Record, expr: r.Expr})
		}
	}
	return out
}

// TestRulesStructure checks what makes an alert actionable: a unique name,
// a pending period, a severity, a summary, a description and a runbook
// section that exists in docs/monitoring.md.
func TestRulesStructure(t *testing.T) {
	groups := readRules(t)
	doc, err := os.ReadFile(runbooksDoc)
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^### (\S+)$`).FindAllStringSubmatch(string(doc), -1) {
		sections[strings.ToLower(m[1])] = true
	}
	seen := map[string]bool{}
	for _, grp := range groups.Groups {
		for _, r := range grp.Rules {
			if r.Alert == "" {
				t.Errorf("group %s: recording rule %s: this file holds alerts only", grp.Name, r.Record)
				continue
			}
			if seen[r.Alert] || !strings.HasPrefix(r.Alert, "IPVSProxy") {
				t.Errorf("%s: repeated, or not prefixed IPVSProxy", r.Alert)
			}
			seen[r.Alert] = true
			if time.Duration(r.For) < time.Minute {
				t.Errorf("%s: for: %v; want at least 1m so one bad scrape does not page", r.Alert, r.For)
			}
			if s := r.Labels["severity"]; s != "critical" && s != "warning" && s != "info" {
				t.Errorf("%s: severity %q; want critical, warning or info", r.Alert, s)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: summary or description missing", r.Alert)
			}
			anchor := strings.ToLower(r.Alert)
			if r.Annotations["runbook_url"] != runbookURL+anchor || !sections[anchor] {
				t.Errorf("%s: runbook_url %q; want %s%s and a section \"### %s\" in %s",
					r.Alert, r.Annotations["runbook_url"], runbookURL, anchor, r.Alert, runbooksDoc)
			}
		}
	}
	if len(seen) < 6 {
		t.Errorf("%d alerts read: the file's shape is not the one this test reads", len(seen))
	}
}

// TestKustomizationShipsCheckedFiles checks that `kubectl apply -k
// manifests/monitoring` applies the two files these tests check.
func TestKustomizationShipsCheckedFiles(t *testing.T) {
	b, err := os.ReadFile("../../manifests/monitoring/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Resources          []string `yaml:"resources"`
		ConfigMapGenerator []struct {
			Files   []string `yaml:"files"`
			Options struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"options"`
		} `yaml:"configMapGenerator"`
	}
	if err := yaml.Unmarshal(b, &k); err != nil {
		t.Fatal(err)
	}
	dashboard := false
	for _, g := range k.ConfigMapGenerator {
		dashboard = dashboard || slices.Contains(g.Files, "ipvs-proxy-dashboard.json") && g.Options.Labels["grafana_dashboard"] == "1"
	}
	if !slices.Contains(k.Resources, "prometheusrule.yaml") || !dashboard {
		t.Errorf("kustomization: resources %v, generators %+v: want prometheusrule.yaml and a grafana_dashboard ConfigMap of ipvs-proxy-dashboard.json", k.Resources, k.ConfigMapGenerator)
	}
}
