package main

import (
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{in: "90d", want: 90 * day},
		{in: "2160h", want: 90 * day},
		{in: "1d12h", want: 36 * time.Hour},
		{in: "1d30m", want: day + 30*time.Minute},
		{in: "0d", want: 0},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "30s", want: 30 * time.Second},
		{in: " 7d ", want: 7 * day},
		{in: "d", bad: true},
		{in: "1.5d", bad: true},
		{in: "-1d", bad: true},
		{in: "1d-1h", bad: true},
		{in: "90", bad: true},
		{in: "90days", bad: true},
		{in: "1dd", bad: true},
		{in: "999999999d", bad: true},
		{in: "", bad: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseDuration(tc.in)
			if tc.bad {
				if err == nil {
					t.Fatalf("accepted as %v", got)
				}
				if !strings.Contains(err.Error(), "90d") {
					t.Fatalf("the error does not say what works: %v", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestFormatDuration(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want string
	}{
		{90 * day, "90d"},
		{day, "1d"},
		{36 * time.Hour, "1d12h"},
		{day + 90*time.Second, "1d1m30s"},
		{time.Hour, "1h"},
		{90 * time.Minute, "1h30m"},
		{2*time.Hour + 30*time.Second, "2h0m30s"},
		{5 * time.Minute, "5m"},
		{30 * time.Second, "30s"},
		{1500 * time.Millisecond, "1.5s"},
		{0, "0s"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			got := formatDuration(tc.in)
			if got != tc.want {
				t.Fatalf("formatDuration(%v) = %q, want %q", tc.in, got, tc.want)
			}
			back, err := parseDuration(got)
			if err != nil || back != tc.in {
				t.Fatalf("%q reads back as %v, %v", got, back, err)
			}
		})
	}
}

// TestEveryDurationFlagTakesDays checks that no duration flag is a plain
// flag.Duration (which prints 2160h0m0s and refuses 90d), and that each one
// takes both forms from the command line and the environment.
func TestEveryDurationFlagTakesDays(t *testing.T) {
	var out strings.Builder
	if code := run([]string{"-h"}, func(string) string { return "" }, &out, &out); code != 0 {
		t.Fatalf("-h exited %d", code)
	}
	if !strings.Contains(out.String(), "90d, 2160h") {
		t.Errorf("-h does not say how durations are written:\n%s", out.String())
	}

	fs := flag.NewFlagSet("parley", flag.ContinueOnError)
	defineFlags(fs, &Config{}, &rawFlags{})
	var names []string
	fs.VisitAll(func(f *flag.Flag) {
		if fmt.Sprintf("%T", f.Value) == "*flag.durationValue" {
			t.Errorf("--%s is a plain flag.Duration (2160h0m0s, no days): define it with durationFlag", f.Name)
		}
		if _, ok := f.Value.(durationValue); ok {
			names = append(names, f.Name)
		}
	})
	if len(names) < 6 {
		t.Fatalf("only %d duration flags found: %v", len(names), names)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			for _, form := range []string{"2d", "48h"} {
				// An error of validate ("must be at most") is fine here:
				// the parser took the value.
				if _, err := parseConfig([]string{"--" + name, form}, func(string) string { return "" }, &strings.Builder{}); err != nil && !strings.Contains(err.Error(), "must") {
					t.Fatalf("--%s %s: %v", name, form, err)
				}
				env := func(k string) string {
					if k == envName(name) {
						return form
					}
					return ""
				}
				if _, err := parseConfig(nil, env, &strings.Builder{}); err != nil && !strings.Contains(err.Error(), "must") {
					t.Fatalf("%s=%s: %v", envName(name), form, err)
				}
			}
		})
	}

	// The values land where they should, in days and in hours.
	cfg, err := parseConfig([]string{"--ban-for", "30d", "--report-window", "720h", "--session-ttl", "1d"}, func(string) string { return "" }, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BanFor != 30*day || cfg.ReportWindow != 30*day || cfg.SessionTTL != day {
		t.Fatalf("parsed %v %v %v", cfg.BanFor, cfg.ReportWindow, cfg.SessionTTL)
	}
}
