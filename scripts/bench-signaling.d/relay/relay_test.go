package main

import (
	"bytes"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func dial(t *testing.T, srv *httptest.Server, query string) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

func read(t *testing.T, ws *websocket.Conn) []byte {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, b, err := ws.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRelayPassesFramesUntouched pairs two connections by their pair and
// checks that each gets the other's frames byte for byte, and nobody
// else's.
func TestRelayPassesFramesUntouched(t *testing.T) {
	srv := httptest.NewServer(newRelay())
	defer srv.Close()
	a := dial(t, srv, "?pair=1")
	other := dial(t, srv, "?pair=2")
	b := dial(t, srv, "?pair=1")
	for _, ws := range []*websocket.Conn{a, b} {
		if got := read(t, ws); !bytes.Equal(got, pairedFrame) {
			t.Fatalf("first frame %q, want %q", got, pairedFrame)
		}
	}
	for _, tc := range []struct {
		name     string
		from, to *websocket.Conn
		frame    string
	}{
		{"a to b", a, b, `{"type":"signal","data":{"candidate":{"candidate":"candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host"}}}`},
		{"b to a", b, a, `not even JSON \u0000 <>`},
		{"a to b again", a, b, `{}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.from.WriteMessage(websocket.TextMessage, []byte(tc.frame)); err != nil {
				t.Fatal(err)
			}
			if got := read(t, tc.to); string(got) != tc.frame {
				t.Fatalf("got %q, want %q", got, tc.frame)
			}
		})
	}
	// Pairs are kept apart: the second pair's frames reach only each other.
	late := dial(t, srv, "?pair=2")
	for _, ws := range []*websocket.Conn{other, late} {
		if got := read(t, ws); !bytes.Equal(got, pairedFrame) {
			t.Fatalf("first frame %q, want %q", got, pairedFrame)
		}
	}
	if err := other.WriteMessage(websocket.TextMessage, []byte("kept")); err != nil {
		t.Fatal(err)
	}
	if got := read(t, late); string(got) != "kept" {
		t.Fatalf("got %q, want %q", got, "kept")
	}
	// When one side goes, the other is closed, whether or not it spoke.
	for _, ws := range []*websocket.Conn{a, late} {
		ws.Close()
	}
	for _, ws := range []*websocket.Conn{b, other} {
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, _, err := ws.ReadMessage(); err == nil {
			t.Fatal("the partner of a closed connection stayed open")
		}
	}
}
