package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/signaling"
	"github.com/parley-chat/parley/signaling/proto"
	"github.com/parley-chat/parley/store"
)

// The attack modes against a real server in this process: the figures are
// small, but every path of the attack runs.

func TestSlowReaderAgainstARealServer(t *testing.T) {
	for _, tc := range []struct {
		payload string
		check   func(t *testing.T, res slowResult)
	}{
		{"offer", func(t *testing.T, res slowResult) {
			// Valid offers pass until the session's signal budget is
			// spent; then the sender steps down and at last leaves for a
			// new session.
			if res.DrainedSignals == 0 || res.DrainedBytes < 64<<10 {
				t.Errorf("the receivers read %d signals, %d bytes: nothing waited for them", res.DrainedSignals, res.DrainedBytes)
			}
			if res.Refused[proto.CodeSignalBudget] == 0 || res.SenderSessions <= 2 {
				t.Errorf("refused %v with %d sender sessions: no sender spent its budget", res.Refused, res.SenderSessions)
			}
		}},
		{"audit", func(t *testing.T, res slowResult) {
			// The audit's frames are no valid offers any more.
			if res.DrainedSignals != 0 || res.Refused[proto.CodeBadSDP] == 0 {
				t.Errorf("the receivers read %d signals, refused %v: the audit's frames passed", res.DrainedSignals, res.Refused)
			}
		}},
	} {
		t.Run(tc.payload, func(t *testing.T) {
			wsURL, _ := startServer(t)
			var out strings.Builder
			res, err := runSlowReader(context.Background(), slowConfig{URL: wsURL, PID: os.Getpid(), Sources: 2, Pairs: 2,
				Duration: 1500 * time.Millisecond, Payload: tc.payload, RcvBuf: 4096, Timeout: 10 * time.Second, Out: &out})
			if err != nil {
				t.Fatal(err)
			}
			t.Log(out.String())
			if res.ReceiverSessions != 2 || len(res.Errors) > 0 || len(res.DialRefused) > 0 {
				t.Errorf("receivers %d, errors %v, refused upgrades %v", res.ReceiverSessions, res.Errors, res.DialRefused)
			}
			if res.Peak.rss == 0 || res.Peak.rss < res.Base.rss || !strings.Contains(out.String(), "RESULT mode=slowreader-"+tc.payload+" ") {
				t.Errorf("no memory figures or RESULT line:\n%s", out.String())
			}
			tc.check(t, res)
		})
	}
}

func TestAuditFrameIsTheAuditsSize(t *testing.T) {
	f := auditFrame()
	if len(f) != 65256 || strings.Count(string(f), "<") != 64800 {
		t.Fatalf("%d bytes, %d '<'", len(f), strings.Count(string(f), "<"))
	}
	if _, err := proto.Decode(f); err != nil {
		t.Fatal(err)
	}
}

func TestSessionFloodAgainstARealServer(t *testing.T) {
	for _, join := range []bool{false, true} {
		t.Run(map[bool]string{false: "hello", true: "join"}[join], func(t *testing.T) {
			dir := t.TempDir()
			wsURL, _ := startServerIn(t, signaling.Config{NewSessionsPerMinute: 1, NewSessionBurst: 4}, dir)
			var out strings.Builder
			res, err := runSessionFlood(context.Background(), floodConfig{URL: wsURL, PID: os.Getpid(), DB: filepath.Join(dir, store.DBName),
				Sources: 1, Workers: 2, Duration: time.Second, Join: join, Backoff: 50 * time.Millisecond, Settle: 500 * time.Millisecond,
				Timeout: 10 * time.Second, Out: &out})
			if err != nil {
				t.Fatal(err)
			}
			t.Log(out.String())
			if res.Sessions != 4 || len(res.Errors) > 0 {
				t.Errorf("%d sessions (the burst is 4), errors %v", res.Sessions, res.Errors)
			}
			refused := false
			for k := range res.Refused {
				refused = refused || strings.HasPrefix(k, "http-429 too many new sessions")
			}
			if !refused {
				t.Errorf("no refusal for too many new sessions: %v", res.Refused)
			}
			// Only a session that joined is written.
			want := 0
			if join {
				want = 4
			}
			if got := res.RecordsAfter["sessions"] - res.Records["sessions"]; got != want {
				t.Errorf("%d session records, want %d", got, want)
			}
			if res.Peak.rss == 0 || !strings.Contains(out.String(), "RESULT mode=sessionflood-") {
				t.Errorf("no memory figures or RESULT line:\n%s", out.String())
			}
		})
	}
}

func TestMetricsScrape(t *testing.T) {
	page := "# HELP parley_x a counter\n# TYPE parley_x counter\nparley_x 7\n" +
		"parley_refused_total{reason=\"capacity\"} 2\nparley_refused_total{reason=\"network\"} 5\n"
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(page)) }))
	defer ts.Close()
	m, err := scrapeMetrics(context.Background(), ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	g := watchGauge(ts.URL, "parley_x", time.Millisecond)
	if peak, ok := g.finish(); peak != 7 || !ok {
		t.Errorf("gauge peak %v %v, want 7", peak, ok)
	}
	if _, ok := watchGauge(ts.URL, "parley_y", time.Millisecond).finish(); ok {
		t.Error("a gauge the server lacks was seen")
	}
	before := map[string]float64{"parley_x": 3, `parley_refused_total{reason="capacity"}`: 1}
	for _, tc := range []struct {
		name string
		want float64
		ok   bool
	}{
		{"parley_x", 4, true},
		{"parley_refused_total", 6, true}, // summed over the labels
		{"parley_y", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if d, ok := metricDelta(before, m, tc.name); d != tc.want || ok != tc.ok {
				t.Errorf("delta %v %v, want %v %v", d, ok, tc.want, tc.ok)
			}
		})
	}
}
