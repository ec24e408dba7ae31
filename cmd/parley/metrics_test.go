package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/parley-chat/parley/signaling/proto"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/parley-chat/parley/signaling"
	"github.com/parley-chat/parley/signaling/client"
)

// scrape reads /metrics and parses it.
func scrape(t *testing.T, ta *testApp) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(ta.adminURL(t) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// value is the value of the series of fam with exactly these labels.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	fam, ok := fams[name]
	if !ok {
		t.Fatalf("no family %s", name)
	}
	for _, m := range fam.GetMetric() {
		var got []string
		for _, lp := range m.GetLabel() {
			got = append(got, lp.GetName(), lp.GetValue())
		}
		if !slices.Equal(got, labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Summary != nil:
			return float64(m.GetSummary().GetSampleCount())
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

func TestMetricsHoldOnlyAggregates(t *testing.T) {
	ta := startOpsApp(t, "", func(c *Config) { c.BanAfter = 1 })
	const name = "Zqxmetricname"
	var peers []*client.Client
	for _, from := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"} {
		peers = append(peers, dialPeer(t, ta, from))
	}
	// Two chats; one ends with next, one with a report (a ban: 1 report is
	// enough here); an unknown message and a bad join give errors.
	for i, c := range peers {
		j := client.Join{Name: name}
		if i >= 2 {
			j.Mode, j.Media = "random", "video"
		}
		if err := c.Join(j); err != nil {
			t.Fatal(err)
		}
		if i%2 == 1 {
			waitEvent(t, peers[i-1], proto.TypeMatched)
			waitEvent(t, c, proto.TypeMatched)
		}
	}
	if err := peers[0].Next(); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, peers[1], proto.TypePartnerLeft)
	if err := peers[2].Report("spam"); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, peers[2], proto.TypeReported)
	_ = peers[0].SendJSON(map[string]string{"type": "no-such-type-xyz"})
	_ = peers[0].SendJSON(map[string]any{"type": "join", "mode": "nope", "media": "text", "consent": true, "adult": true})
	waitEvent(t, peers[0], proto.TypeError)
	waitEvent(t, peers[0], proto.TypeError)

	fams := scrape(t, ta)

	// Every family the table claims is there, with its type and labels.
	for _, d := range metricDefs {
		fam, ok := fams[d.name]
		if !ok && d.tlsOnly() {
			continue // TestCertificateMetrics
		}
		if !ok && d.clusterOnly() {
			continue // TestClusterMatchesAcrossNodes
		}
		if !ok {
			t.Errorf("family %s missing", d.name)
			continue
		}
		if got := strings.ToLower(fam.GetType().String()); got != d.kind {
			t.Errorf("%s is a %s, the table says %s", d.name, got, d.kind)
		}
		for _, m := range fam.GetMetric() {
			var names []string
			for _, lp := range m.GetLabel() {
				names = append(names, lp.GetName())
			}
			want := slices.Sorted(slices.Values(d.labels)) // the exposition sorts them
			if !slices.Equal(names, want) && !(len(names) == 0 && len(want) == 0) {
				t.Errorf("%s has labels %v, the table says %v", d.name, names, d.labels)
			}
		}
	}
	for _, std := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes"} {
		if _, ok := fams[std]; !ok {
			t.Errorf("the Go collector's %s is missing", std)
		}
	}
	if runtime.GOOS == "linux" {
		if _, ok := fams["process_resident_memory_bytes"]; !ok {
			t.Error("the process collector's process_resident_memory_bytes is missing")
		}
	}

	// No label value names anyone: every value is from a closed set.
	allowed := map[string][]string{
		"mode": labelModes, "media": labelMedia, "type": labelMessages, "code": labelErrors,
		"reason": append(slices.Clone(labelRefused), labelTURNRefused...), "version": {version},
	}
	var forbidden []string
	for _, c := range peers {
		forbidden = append(forbidden, c.Token(), ta.store.SessionKey(c.Token()).Hex())
	}
	forbidden = append(forbidden, name, "127.0.0.", ta.URL)
	for fname, fam := range fams {
		for _, m := range fam.GetMetric() {
			for _, lp := range m.GetLabel() {
				v := lp.GetValue()
				for _, bad := range forbidden {
					if bad != "" && strings.Contains(v, bad) {
						t.Errorf("%s{%s=%q} holds %q", fname, lp.GetName(), v, bad)
					}
				}
				if !strings.HasPrefix(fname, "parley_") {
					continue // go_ and process_ labels are the runtime's
				}
				if !slices.Contains(allowed[lp.GetName()], v) {
					t.Errorf("%s{%s=%q}: a label value outside its closed set", fname, lp.GetName(), v)
				}
			}
		}
	}

	// And the numbers are the chats that happened.
	for _, c := range []struct {
		name   string
		labels []string
		min    float64
	}{
		{"parley_connections_open", nil, 3}, // the banned one was closed
		{"parley_connections_total", nil, 4},
		{"parley_pairs_total", nil, 2},
		{"parley_chats_today", nil, 2},
		{"parley_messages_total", []string{"type", "join"}, 4},
		{"parley_messages_total", []string{"type", "next"}, 1},
		{"parley_messages_total", []string{"type", "report"}, 1},
		{"parley_errors_total", []string{"code", "unknown_type"}, 1},
		{"parley_errors_total", []string{"code", "bad_mode"}, 1},
		{"parley_reports_total", nil, 1},
		{"parley_bans_issued_total", nil, 1},
		{"parley_bans_active", nil, 1},
		{"parley_store_write_duration_seconds", nil, 1},
		{"parley_join_to_matched_seconds", nil, 4},
		{"parley_chat_length_seconds", nil, 2},
		{"parley_build_info", []string{"version", version}, 1},
	} {
		if got := value(t, fams, c.name, c.labels...); got < c.min {
			t.Errorf("%s%v = %v, want at least %v", c.name, c.labels, got, c.min)
		}
	}
	// After next both went back to the queue (text); the reporter is idle.
	if got := value(t, fams, "parley_waiting", "media", "text", "mode", "random"); got != 2 {
		t.Errorf("waiting random/text = %v, want 2", got)
	}
}

// TestMetricsDocumented keeps the table in docs/SELF-HOSTING.md equal to
// what is exposed.
func TestMetricsDocumented(t *testing.T) {
	b, err := os.ReadFile("../../docs/SELF-HOSTING.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `(parley_[a-z_]+)` \\| ([a-z]+) \\| ([^|]*) \\|")
	documented := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(b), -1) {
		documented[m[1]] = m[2] + " " + strings.TrimSpace(m[3])
	}
	for _, d := range metricDefs {
		want := d.kind + " " + strings.Join(d.labels, ", ")
		if got, ok := documented[d.name]; !ok {
			t.Errorf("%s is exposed but not in docs/SELF-HOSTING.md", d.name)
		} else if strings.TrimSpace(got) != strings.TrimSpace(want) {
			t.Errorf("%s: documented as %q, exposed as %q", d.name, got, want)
		}
		delete(documented, d.name)
	}
	for name := range documented {
		t.Errorf("%s is documented but not exposed", name)
	}
	if t.Failed() {
		t.Logf("the table as exposed:\n%s", metricsTable())
	}
}

// metricsTable is the table of docs/SELF-HOSTING.md, from metricDefs.
func metricsTable() string {
	var b strings.Builder
	b.WriteString("| metric | type | labels | meaning |\n|---|---|---|---|\n")
	for _, d := range metricDefs {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", d.name, d.kind, strings.Join(d.labels, ", "), d.help)
	}
	return b.String()
}

// publicStats fetches /api/stats.
func publicStats(t *testing.T, ta *testApp) (signaling.PublicStats, string) {
	t.Helper()
	status, body := do(t, "GET", ta.URL+"/api/stats", "")
	if status != http.StatusOK {
		t.Fatalf("/api/stats: %d %s", status, body)
	}
	var st signaling.PublicStats
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return st, body
}

func intOr(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

// The public statistics cannot single out one person's political
// preference, whatever the watcher does with their own sessions (issue 10,
// point 7): the attack padded the queue with four of the attacker's own
// sessions waiting as one preference and watched a per-preference count
// jump when the victim joined. Here the victim joins as one preference,
// then as the other, with the attacker's padding in place: the public
// numbers must not tell the two apart, and never name a preference.
func TestPublicStatsCannotSingleOutAPreference(t *testing.T) {
	ta := startTestApp(t, func(c *Config) { c.MaxConnsPerAddr = 64 })
	st, body := publicStats(t, ta)
	if st.OnlineAtLeast != nil || st.ChatsToday != nil || st.AvgChatSeconds != nil {
		t.Fatalf("an empty server shows counts: %s", body)
	}
	var prefs []proto.Preference
	joinOpposite := func(c *client.Client, media, pref string) {
		if err := c.Join(client.Join{Mode: "opposite", Media: media, Preference: pref}); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, c, proto.TypeQueued)
	}
	// The attacker's padding: all of the first preference, and in video, so
	// that the victim (text) is never matched with them whichever side the
	// victim takes (being matched tells the opposite side by design; the
	// numbers must tell nothing).
	for range 9 {
		c := dialPeer(t, ta, "")
		prefs = c.Welcome().Preferences
		joinOpposite(c, "video", prefs[0].ID)
	}
	victim := dialPeer(t, ta, "")
	bodies := map[string]string{}
	for _, p := range []string{prefs[0].ID, prefs[1].ID} {
		joinOpposite(victim, "text", p)
		_, bodies[p] = publicStats(t, ta)
		for _, q := range prefs {
			if strings.Contains(bodies[p], `"`+q.ID+`"`) {
				t.Fatalf("the public stats name a preference: %s", bodies[p])
			}
		}
		_ = victim.Leave()
		waitEvent(t, victim, proto.TypeLeft)
	}
	if bodies[prefs[0].ID] != bodies[prefs[1].ID] {
		t.Fatalf("the victim's preference shows:\n%s\n%s", bodies[prefs[0].ID], bodies[prefs[1].ID])
	}
	if st, _ := publicStats(t, ta); intOr(st.OnlineAtLeast) != 10 {
		t.Fatalf("10 online shown as %v: a band of 10", intOr(st.OnlineAtLeast))
	}

	// Four chats today stay hidden, the fifth shows the count and the mean.
	for i := range 5 {
		a, b := dialPeer(t, ta, ""), dialPeer(t, ta, "")
		_ = a.Join(client.Join{})
		_ = b.Join(client.Join{})
		waitEvent(t, a, proto.TypeMatched)
		waitEvent(t, b, proto.TypeMatched)
		_ = a.Leave()
		waitEvent(t, a, proto.TypeLeft)
		waitEvent(t, b, proto.TypePartnerLeft)
		st, body = publicStats(t, ta)
		if i < 4 && (st.ChatsToday != nil || st.AvgChatSeconds != nil) {
			t.Fatalf("%d chats shown: %s", i+1, body)
		}
	}
	if intOr(st.ChatsToday) != 5 || st.AvgChatSeconds == nil || intOr(st.OnlineAtLeast) != 20 {
		t.Fatalf("5 chats, 20 online: %s", body)
	}
	if strings.Contains(body, "127.0.0.1") {
		t.Fatalf("an address in the public stats: %s", body)
	}
}
