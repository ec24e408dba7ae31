package main

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/signaling/signalingtest"
)

// testApp is the whole server in process on 127.0.0.1 ports: the real store
// in a temporary directory, the real relay and signaling. Tap sees every
// byte of the HTTP and WebSocket listener; Logs sees every log line.
type testApp struct {
	*app
	Cfg   Config
	URL   string // http://127.0.0.1:port
	WSURL string // ws://127.0.0.1:port/ws
	Tap   *signalingtest.Tap
	Logs  *signalingtest.Logs
}

// testConfig is a config for one test: loopback ports chosen by the kernel,
// a fresh data directory, a relay port range of its own.
func testConfig(t testing.TB) Config {
	t.Helper()
	cfg, err := parseConfig(nil, func(string) string { return "" }, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.KeyFile = ""
	cfg.TURNListen = "127.0.0.1:0"
	cfg.TURNTLSListen = "127.0.0.1:0"
	cfg.TURNPublicIP = netip.MustParseAddr("127.0.0.1")
	lo := 20000 + rand.IntN(40000)
	cfg.TURNRelayPorts = [2]int{lo, lo + 200}
	cfg.AdminListen = "off"
	cfg.LogLevel = "debug"
	// Every client, Go or Chromium, does the proof of work; at a difficulty
	// that costs a test little (the baseline's cost is in BENCHMARKS.md).
	cfg.PowBits = 6
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// startTestApp starts the whole server; mutate, when not nil, changes the
// config first. The server stops when the test ends.
func startTestApp(t testing.TB, mutate func(*Config)) *testApp {
	t.Helper()
	cfg := testConfig(t)
	if mutate != nil {
		mutate(&cfg)
		cfg.KeyFile = ""
		if err := cfg.validate(); err != nil {
			t.Fatal(err)
		}
	}
	logs := &signalingtest.Logs{}
	a, err := newApp(cfg, logs.Logger())
	if err != nil {
		t.Fatalf("starting the server: %v", err)
	}
	tap := signalingtest.NewTap(a.httpLn)
	a.httpLn = tap
	if err := a.start(); err != nil {
		a.close()
		t.Fatal(err)
	}
	ta := &testApp{app: a, Cfg: cfg, URL: a.URL(), Tap: tap, Logs: logs}
	ta.WSURL = "ws" + strings.TrimPrefix(ta.URL, "http") + "/ws"
	t.Cleanup(func() { ta.stop(t) })
	return ta
}

func (ta *testApp) stop(t testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ta.shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}
