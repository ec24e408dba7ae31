package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// The flood limits of issue 10 (points 1 and 3) reach the server from their
// flags, and values the server could not keep are refused when parsed.
func TestFloodLimitFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		bad  string // a part of the error; empty: accepted
	}{
		{nil, ""},
		{[]string{"--max-queued-bytes", "131072", "--max-queued-total", "131072"}, ""},
		{[]string{"--max-queued-bytes", "100000"}, "--max-queued-bytes must hold two frames"},
		{[]string{"--max-queued-bytes", "4194304", "--max-queued-total", "2097152"}, "--max-queued-total must be at least"},
		{[]string{"--new-sessions-per-minute", "0"}, "--new-sessions-per-minute must be positive"},
		{[]string{"--new-session-burst", "0"}, "--new-session-burst at least 1"},
	} {
		name := strings.Join(tc.args, " ")
		if name == "" {
			name = "defaults"
		}
		t.Run(name, func(t *testing.T) {
			_, err := parseConfig(tc.args, func(string) string { return "" }, io.Discard)
			if tc.bad == "" && err != nil || tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad)) {
				t.Fatalf("error %v, want %q", err, tc.bad)
			}
		})
	}

	t.Run("sessions", func(t *testing.T) {
		ta := startTestApp(t, func(c *Config) { c.NewSessionsPerMinute, c.NewSessionBurst = 1, 2 })
		for i := range 3 {
			// No cookie: each upgrade is a new session.
			ws, resp, err := websocket.DefaultDialer.Dial(ta.WSURL, nil)
			if i < 2 {
				if err != nil {
					t.Fatalf("session %d: %v", i+1, err)
				}
				ws.Close()
				continue
			}
			if err == nil {
				ws.Close()
				t.Fatal("a third new session within the burst of 2")
			}
			if resp == nil || resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("the third: %v %v", resp, err)
			}
		}
	})
}
