package main

import (
	"flag"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestFlagTableMatchesHelp keeps the table of every flag in
// docs/SELF-HOSTING.md equal to parley -h: each flag with its environment
// variable and its default as -h prints it, and no row for a flag that is
// gone.
func TestFlagTableMatchesHelp(t *testing.T) {
	b, err := os.ReadFile("../../docs/SELF-HOSTING.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `--([a-z0-9-]+)` \\| `(PARLEY_[A-Z0-9_]+)` \\| `([^`]*)` \\| \\S")
	documented := map[string][2]string{}
	for _, m := range row.FindAllStringSubmatch(string(b), -1) {
		if _, twice := documented[m[1]]; twice {
			t.Errorf("--%s has two rows", m[1])
		}
		documented[m[1]] = [2]string{m[2], m[3]}
	}
	fs := flag.NewFlagSet("parley", flag.ContinueOnError)
	var c Config
	var raw rawFlags
	defineFlags(fs, &c, &raw)
	fs.VisitAll(func(f *flag.Flag) {
		def := f.DefValue
		if def == "" {
			def = "none" // as -h prints it
		}
		got, ok := documented[f.Name]
		switch {
		case !ok:
			t.Errorf("--%s is in -h but not in the flag table of docs/SELF-HOSTING.md", f.Name)
		case got[0] != envName(f.Name):
			t.Errorf("--%s: the table says %s, -h says %s", f.Name, got[0], envName(f.Name))
		case got[1] != def:
			t.Errorf("--%s: the table says default %q, -h says %q", f.Name, got[1], def)
		}
		delete(documented, f.Name)
	})
	for name := range documented {
		t.Errorf("--%s is in the flag table of docs/SELF-HOSTING.md but parley has no such flag", name)
	}
}

// TestReadmeListsEveryPackage keeps the package table of README.md equal to
// what go list finds: every package with its line, and no line for a
// package that is gone.
func TestReadmeListsEveryPackage(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z0-9/._-]+)` \\| \\S").FindAllStringSubmatch(string(b), -1) {
		listed[m[1]] = true
	}
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}}", "./...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const module = "github.com/parley-chat/parley/"
	for _, p := range strings.Fields(string(out)) {
		p = strings.TrimPrefix(p, module)
		if !listed[p] {
			t.Errorf("package %s is not in README.md's table", p)
		}
		delete(listed, p)
	}
	for p := range listed {
		t.Errorf("README.md lists %s, which go list does not know", p)
	}
}
