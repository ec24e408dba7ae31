package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/signaling"
	"github.com/parley-chat/parley/signaling/node"
	"github.com/parley-chat/parley/signaling/pow"
	"github.com/parley-chat/parley/signaling/proto"
	"github.com/parley-chat/parley/store"
)

// startServer runs parley's signaling with a real store on 127.0.0.1:0 and
// returns its WebSocket URL and stats URL.
func startServer(t *testing.T) (wsURL, statsURL string) {
	t.Helper()
	return startServerWith(t, signaling.Config{})
}

// startServerWith is startServer with cfg's limits (session creation is
// never the limit unless cfg sets one).
func startServerWith(t *testing.T, cfg signaling.Config) (wsURL, statsURL string) {
	t.Helper()
	return startServerIn(t, cfg, t.TempDir())
}

// startServerIn is startServerWith with the store in dir.
func startServerIn(t *testing.T, cfg signaling.Config, dir string) (wsURL, statsURL string) {
	t.Helper()
	wsURL, statsURL, _ = startSignalingIn(t, cfg, dir)
	return wsURL, statsURL
}

// startSignaling is startServerWith, and the server itself for its Stats.
func startSignaling(t *testing.T, cfg signaling.Config) (wsURL, statsURL string, srv *signaling.Server) {
	t.Helper()
	return startSignalingIn(t, cfg, t.TempDir())
}

// startSignalingIn is startSignaling with the store in dir.
func startSignalingIn(t *testing.T, cfg signaling.Config, dir string) (wsURL, statsURL string, srv *signaling.Server) {
	t.Helper()
	if cfg.NewSessionsPerMinute == 0 {
		cfg.NewSessionsPerMinute, cfg.NewSessionBurst = 1e6, 1e6
	}
	if cfg.ProofOfWork.Bits == 0 && !cfg.NoProofOfWork {
		// Every virtual person solves the work, at a difficulty cheap
		// enough for the race detector.
		cfg.ProofOfWork = pow.Config{Bits: 6}
	}
	n, err := node.New(node.Config{
		Store:     store.Config{Dir: dir},
		Signaling: cfg,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv = n.Signaling
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", srv.Handler())
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"goroutines":7,"memory":{"heapInuse":1000}}`))
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.Shutdown(ctx)
		_ = hs.Shutdown(ctx)
	})
	return "ws://" + ln.Addr().String() + "/ws", "http://" + ln.Addr().String() + "/stats", srv
}

func testCommon(wsURL, statsURL string, out io.Writer) common {
	return common{URL: wsURL, Admin: statsURL, PerSource: 12, Timeout: 10 * time.Second, Media: "text", Out: out}
}

// checkProved checks that the people who joined did the proof of work.
func checkProved(t *testing.T, out string) {
	t.Helper()
	if !strings.Contains(out, "proof of work:") {
		t.Errorf("the report does not say the people solved the proof of work:\n%s", out)
	}
}

func checkClean(t *testing.T, res result, out string) {
	t.Helper()
	if len(res.Errors) > 0 {
		t.Errorf("errors: %v\n%s", res.Errors, out)
	}
	if !strings.Contains(out, "server goroutines:") {
		t.Errorf("the report lacks the server's figures:\n%s", out)
	}
}

func TestChurnAgainstARealServer(t *testing.T) {
	wsURL, statsURL := startServer(t)
	var out strings.Builder
	cfg := churnConfig{common: testCommon(wsURL, statsURL, &out), Rate: 40, Concurrency: 100,
		Duration: time.Second, Drain: 10 * time.Second, Chats: 2, Next: 0.5, Candidates: 3}
	res, err := runChurn(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(out.String())
	if res.Pairs == 0 || res.Joins == 0 || res.Forwarded == 0 || res.JoinToMatched.N == 0 || res.Forward.N == 0 || res.ForwardSDP.N == 0 {
		t.Errorf("nothing measured: %+v\n%s", res, out.String())
	}
	// Each pair exchanges an offer, an answer and 3 candidates each way.
	if res.Forwarded < res.Pairs*2 {
		t.Errorf("%d signals forwarded for %d pairs", res.Forwarded, res.Pairs)
	}
	checkClean(t, res, out.String())
	checkProved(t, out.String())
}

func TestMatchAndForwardAgainstARealServer(t *testing.T) {
	wsURL, statsURL := startServer(t)
	var out strings.Builder
	mres, err := runMatch(context.Background(), matchConfig{common: testCommon(wsURL, statsURL, &out), People: 40, Rate: 40, Duration: time.Second, DialRate: 500})
	if err != nil {
		t.Fatal(err)
	}
	if mres.Pairs == 0 || mres.JoinToMatched.N == 0 {
		t.Errorf("match measured nothing: %+v\n%s", mres, out.String())
	}
	checkClean(t, mres, out.String())
	checkProved(t, out.String())

	out.Reset()
	fres, err := runForward(context.Background(), forwardConfig{common: testCommon(wsURL, statsURL, &out), Pairs: 10, Rate: 200, Duration: time.Second, DialRate: 500})
	if err != nil {
		t.Fatal(err)
	}
	if fres.Forwarded == 0 || fres.Forward.N == 0 {
		t.Errorf("forward measured nothing: %+v\n%s", fres, out.String())
	}
	// The stamps survive parley's signal cleaner: latencies are times, not
	// what is left of a field the server wrote anew.
	if fres.Forward.P50 <= 0 || fres.Forward.Max > 5*time.Second {
		t.Errorf("forward latency %s", fres.Forward)
	}
	checkClean(t, fres, out.String())
	checkProved(t, out.String())
	t.Log(out.String())
}

func TestIdleHoldsConnections(t *testing.T) {
	wsURL, statsURL := startServer(t)
	var out strings.Builder
	// 40 connections over 12 per source: several source addresses.
	res, err := runIdle(context.Background(), idleConfig{common: testCommon(wsURL, statsURL, &out), Conns: 40, Hold: 300 * time.Millisecond, DialRate: 1000, Settle: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Connected != 40 || !strings.Contains(out.String(), "40 still open") {
		t.Errorf("connected %d\n%s", res.Connected, out.String())
	}
	checkClean(t, res, out.String())
}

func TestOnlyLoopbackTargets(t *testing.T) {
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"ws://127.0.0.1:8080/ws", true},
		{"ws://127.3.2.1:8080/ws", true},
		{"ws://localhost:8080/ws", true},
		{"ws://[::1]:8080/ws", true},
		{"ws://[::ffff:127.0.0.1]:8080/ws", true},
		{"ws://10.0.0.1:8080/ws", false},
		{"ws://192.168.1.2/ws", false},
		{"ws://example.org/ws", false},
		{"ws://0.0.0.0:8080/ws", false},
		{"ws://[::]:8080/ws", false},
		{"http://127.0.0.1:8080/ws", false},
	} {
		t.Run(tc.url, func(t *testing.T) {
			err := loopbackURL(tc.url, "ws", "wss")
			if (err == nil) != tc.ok {
				t.Fatalf("loopbackURL(%q) = %v", tc.url, err)
			}
		})
	}
	// And the command refuses before any connection.
	var out, errOut strings.Builder
	if code := run([]string{"churn", "-url", "ws://203.0.113.7:8080/ws", "-duration", "1s"}, func(string) string { return "" }, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "not a loopback address") {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
}

func TestHelpDocumentsEveryMode(t *testing.T) {
	var out strings.Builder
	if code := run([]string{"-h"}, func(string) string { return "" }, &out, io.Discard); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, mode := range []string{"churn", "match", "forward", "idle", "webrtc", "serve", "turn-cred", "slowreader", "sessionflood"} {
		if !strings.Contains(out.String(), "  "+mode) {
			t.Errorf("-h does not mention %s", mode)
		}
		var mout strings.Builder
		if code := run([]string{mode, "-h"}, func(string) string { return "" }, &mout, io.Discard); code != 0 || !strings.Contains(mout.String(), "Flags:") {
			t.Errorf("%s -h: exit %d\n%s", mode, code, mout.String())
		}
	}
}

func TestSignalsPassParleysValidation(t *testing.T) {
	for _, video := range []bool{false, true} {
		s, err := newSignals(video)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range [][]byte{s.sdpFrame("offer"), s.sdpFrame("answer"), s.candidateFrame(0, ""), s.candidateFrame(7, "x1")} {
			sent := stamp()
			m, err := proto.Decode(f)
			if err != nil || m.Data == nil {
				t.Fatalf("%s: %v", f, err)
			}
			// What parley forwards: the signal written anew from its
			// values. The stamp must survive it, and be the send time.
			clean, forward, err := m.Data.Clean(false)
			if err != nil || !forward {
				t.Fatalf("%s: cleaned: %v, forward %v", f, err, forward)
			}
			m.Data = clean
			near := func(ts int64) bool { return ts <= sent && sent-ts < int64(time.Second) }
			if m.Data.SDP != nil {
				if ts, ok := sdpStamp(m.Data.SDP.SDP); !ok || !near(ts) {
					t.Errorf("stamp %d (%v), sent at %d, in %q", ts, ok, sent, m.Data.SDP.SDP)
				}
				if video && len(m.Data.SDP.SDP) < 2000 {
					t.Errorf("video SDP of %d bytes: not video-sized", len(m.Data.SDP.SDP))
				}
			} else if ts, ok := candidateStamp(m.Data.Candidate.Candidate); !ok || !near(ts) {
				t.Errorf("stamp %d (%v), sent at %d, in %q", ts, ok, sent, m.Data.Candidate.Candidate)
			}
		}
	}
	if _, ok := candidateStamp("candidate:abc 1 udp 1 127.0.0.1 1 typ host"); ok {
		t.Error("a priority that is not a stamp was read as one")
	}
}
