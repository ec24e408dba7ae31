package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const (
	alertsFile     = "../../docs/alerts.yml"
	alertsTestFile = "testdata/alerts_test.yml"
)

// alertRule is one rule of docs/alerts.yml, as far as the tests read it.
type alertRule struct {
	Alert string `yaml:"alert"`
	Expr  string `yaml:"expr"`
}

func readAlertRules(t *testing.T) []alertRule {
	t.Helper()
	b, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []alertRule `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	var rules []alertRule
	for _, g := range f.Groups {
		rules = append(rules, g.Rules...)
	}
	if len(rules) == 0 {
		t.Fatal("no rules in docs/alerts.yml")
	}
	return rules
}

// TestAlertRules checks docs/alerts.yml with promtool: the rules parse
// (check rules), and each alert fires on the series that should set it off
// and stays quiet on the others (test rules, testdata/alerts_test.yml).
// Every alert must have a case there where it fires, and a line in
// SELF-HOSTING.md.
func TestAlertRules(t *testing.T) {
	promtool := needTool(t, "promtool", "prometheus")
	out, err := exec.Command(promtool, "check", "rules", "--lint-fatal", alertsFile).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("SUCCESS")) {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	out, err = exec.Command(promtool, "test", "rules", alertsTestFile).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("SUCCESS")) {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}

	b, err := os.ReadFile(alertsTestFile)
	if err != nil {
		t.Fatal(err)
	}
	var cases struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string           `yaml:"alertname"`
				ExpAlerts []map[string]any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	fires := map[string]bool{}
	for _, tc := range cases.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			}
		}
	}
	doc, err := os.ReadFile(selfHostingDoc)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range readAlertRules(t) {
		if !fires[r.Alert] {
			t.Errorf("%s never fires in %s", r.Alert, alertsTestFile)
		}
		if !bytes.Contains(doc, []byte("`"+r.Alert+"`")) {
			t.Errorf("%s is not listed in SELF-HOSTING.md", r.Alert)
		}
	}
}

// TestAlertMetricsExist checks that every metric the rules read, and every
// label value they select, is in parley's /metrics as a running node with
// TLS and the relay exposes it, so that a renamed metric cannot leave an
// alert that never fires. promtool also lints the exposition.
func TestAlertMetricsExist(t *testing.T) {
	promtool := needTool(t, "promtool", "prometheus")
	certPath, keyPath, _ := testCert(t, t.TempDir(), "localhost")
	ta := startOpsApp(t, "", func(c *Config) { c.TLSCert, c.TLSKey = certPath, keyPath })
	fams := scrape(t, ta)

	// Series Prometheus makes itself rather than reading them from parley.
	fromPrometheus := map[string]bool{"up": true}
	name := regexp.MustCompile(`\b(parley_[a-z_]+|process_[a-z_]+|go_[a-z_]+|up)\b(\{[^}]*\})?`)
	matcher := regexp.MustCompile(`([a-z_]+)="([^"]*)"`)
	for _, r := range readAlertRules(t) {
		uses := name.FindAllStringSubmatch(r.Expr, -1)
		if len(uses) == 0 {
			t.Errorf("%s reads no metric: %s", r.Alert, r.Expr)
		}
		for _, m := range uses {
			metric, selector := m[1], m[2]
			if fromPrometheus[metric] {
				continue
			}
			fam, ok := fams[metric]
			if !ok {
				// A summary's or histogram's _sum and _count are series of
				// the family without the suffix.
				base := strings.TrimSuffix(strings.TrimSuffix(metric, "_sum"), "_count")
				fam, ok = fams[base]
			}
			if !ok && slices.ContainsFunc(metricDefs, func(d metricDef) bool { return d.name == metric && d.clusterOnly() }) {
				continue // only in a cluster: TestClusterMatchesAcrossNodes scrapes it
			}
			if !ok {
				t.Errorf("%s reads %s, which parley does not expose", r.Alert, metric)
				continue
			}
			for _, lm := range matcher.FindAllStringSubmatch(selector, -1) {
				if lm[1] == "job" || lm[1] == "instance" {
					continue // set by Prometheus's scrape
				}
				found := false
				for _, s := range fam.GetMetric() {
					for _, lp := range s.GetLabel() {
						found = found || (lp.GetName() == lm[1] && lp.GetValue() == lm[2])
					}
				}
				if !found {
					t.Errorf("%s selects %s{%s=%q}, a series parley does not expose", r.Alert, metric, lm[1], lm[2])
				}
			}
		}
	}

	resp, err := http.Get(ta.adminURL(t) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	exposition, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	lint := exec.Command(promtool, "check", "metrics")
	lint.Stdin = bytes.NewReader(exposition)
	if out, err := lint.CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("promtool check metrics on /metrics: %v\n%s", err, out)
	}
}
