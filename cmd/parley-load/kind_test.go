package main

import (
	"context"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/signaling"
	"github.com/parley-chat/parley/signaling/proto"
)

// TestServerKindsAgainstParley runs the idle and forward modes through
// their flags, -server parley (protocol v2, addressed signals), against a
// parley in this process.
func TestServerKindsAgainstParley(t *testing.T) {
	wsURL, statsURL := startServer(t)
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"forward", []string{"forward", "-server", "parley", "-url", wsURL, "-pairs", "6", "-rate", "60", "-duration", "500ms"},
			[]string{"forward (parley): 6 pairs", "errors:            none", "RESULT mode=forward server=parley"}},
		{"idle", []string{"idle", "-server", "parley", "-url", wsURL, "-admin", statsURL, "-conns", "20", "-hold", "200ms", "-settle", "100ms"},
			[]string{"idle (parley): 20 connections", "20 still open", "errors:            none", "RESULT mode=idle server=parley conns=20"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut strings.Builder
			if code := run(tc.args, func(string) string { return "" }, &out, &errOut); code != 0 {
				t.Fatalf("exit %d: %s\n%s", code, errOut.String(), out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("no %q in\n%s", w, out.String())
				}
			}
			// Every signal sent was forwarded: the v2 addressing reached
			// the partner each time.
			if tc.name == "forward" {
				r := resultLine(t, out.String())
				if r["sent"] == 0 || r["forwarded"] != r["sent"] {
					t.Errorf("not every signal arrived:\n%s", out.String())
				}
			}
		})
	}
}

// TestForwardReadsLimitsFromWelcome checks that the per-connection rate is
// held against what the server announces, not against a number of the
// generator's own.
func TestForwardReadsLimitsFromWelcome(t *testing.T) {
	wsURL, statsURL := startServerWith(t, signaling.Config{MessagesPerSecond: 5, Burst: 10})
	cfg := forwardConfig{common: testCommon(wsURL, statsURL, io.Discard), Pairs: 2, Rate: 40, Duration: 300 * time.Millisecond, DialRate: 500}
	if _, err := runForward(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "welcome.limits.messagesPerSecond") {
		t.Fatalf("10 messages a second per connection against a limit of 5: %v", err)
	}
	cfg.Rate = 12 // 3 a second per connection
	res, err := runForward(context.Background(), cfg)
	if err != nil || res.Forwarded == 0 || len(res.Errors) > 0 {
		t.Fatalf("under the limit: %v, %+v", err, res)
	}
}

// TestKindFrames checks what each kind sends and how it reads what its
// server sends back, with frames shaped as PeerJS server 1.0 and the relay
// write them.
func TestKindFrames(t *testing.T) {
	sig, err := newSignals(false)
	if err != nil {
		t.Fatal(err)
	}
	c := &vconn{i: 3, run: "r", peer: "pr-2", connID: "abcdefghij"}

	t.Run("parley", func(t *testing.T) {
		f := kinds["parley"].candidate(sig, c, 1)
		m, err := proto.Decode(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Signal(); err != nil || m.Peer != "pr-2" {
			t.Fatalf("%s: peer %q, %v", f, m.Peer, err)
		}
		if _, _, err := m.Data.Clean(false); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var in inMsg
		must(t, json.Unmarshal([]byte(`{"type":"matched","pair":"x","role":"offerer","you":"a","peer":"b"}`), &in))
		if ev, _ := kinds["parley"].event(c, &in); ev != evMatched || c.peer != "b" {
			t.Fatalf("matched: %v, peer %q", ev, c.peer)
		}
		c.peer = "pr-2"
	})

	t.Run("peerjs", func(t *testing.T) {
		f := kinds["peerjs"].candidate(sig, c, 1)
		var sent struct {
			Type    string
			Dst     string
			Payload struct {
				Candidate    map[string]any
				Type         string
				ConnectionID string
			}
		}
		must(t, json.Unmarshal(f, &sent))
		if sent.Type != "CANDIDATE" || sent.Dst != "pr-2" || sent.Payload.Type != "data" || sent.Payload.ConnectionID != "dc_abcdefghij" || sent.Payload.Candidate["sdpMid"] != "0" {
			t.Fatalf("%s", f)
		}
		// PeerJS server passes {type, src, dst, payload} on.
		var raw map[string]json.RawMessage
		must(t, json.Unmarshal(f, &raw))
		fwd, _ := json.Marshal(map[string]json.RawMessage{"type": raw["type"], "src": json.RawMessage(`"pr-3"`), "dst": raw["dst"], "payload": raw["payload"]})
		var in inMsg
		must(t, json.Unmarshal(fwd, &in))
		ev, cand := kinds["peerjs"].event(c, &in)
		if _, ok := candidateStamp(cand); ev != evSignal || !ok {
			t.Fatalf("%s: event %v, candidate %q", fwd, ev, cand)
		}
		url, err := kinds["peerjs"].dialURL("ws://127.0.0.1:9000/peerjs", "r", 3, true)
		if err != nil || !strings.Contains(url, "/peerjs?id=pr-3&key=peerjs&token=") {
			t.Fatalf("dial URL %q, %v", url, err)
		}
	})

	t.Run("relay", func(t *testing.T) {
		// The relay is sent parley's frame and passes it as it is.
		f := kinds["relay"].candidate(sig, c, 1)
		if _, err := proto.Decode(f); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var in inMsg
		must(t, json.Unmarshal(f, &in))
		if ev, cand := kinds["relay"].event(c, &in); ev != evSignal || cand == "" {
			t.Fatalf("%s: event %v", f, ev)
		}
		must(t, json.Unmarshal([]byte(`{"type":"paired"}`), &in))
		if ev, _ := kinds["relay"].event(c, &in); ev != evMatched || c.peer != "2" {
			t.Fatalf("paired: %v, peer %q", ev, c.peer)
		}
		for _, tc := range []struct {
			i      int
			paired bool
			want   string
		}{{4, true, "?pair=r-2"}, {5, true, "?pair=r-2"}, {4, false, "/ws"}} {
			url, err := kinds["relay"].dialURL("ws://127.0.0.1:1/ws", "r", tc.i, tc.paired)
			if err != nil || !strings.HasSuffix(url, tc.want) {
				t.Errorf("person %d, paired %v: %q, %v", tc.i, tc.paired, url, err)
			}
		}
	})
}

// resultLine reads the numbers of the RESULT line, as
// scripts/bench-signaling does.
func resultLine(t *testing.T, out string) map[string]float64 {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		rest, ok := strings.CutPrefix(line, "RESULT ")
		if !ok {
			continue
		}
		m := map[string]float64{}
		for _, kv := range strings.Fields(rest) {
			k, v, _ := strings.Cut(kv, "=")
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				m[k] = f
			}
		}
		return m
	}
	t.Fatalf("no RESULT line in\n%s", out)
	return nil
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
