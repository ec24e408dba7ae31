package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// mainTURNCred opens a session on a running parley server and prints the
// TURN credential its welcome carries, for turnutils_uclient. Parley's
// credentials follow the TURN REST scheme and are bound to a live session,
// so the simplest honest way to drive the real binary with coturn's client
// is to be a real session: the session stays live in the store (its TTL)
// after this exits.
func mainTURNCred(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("turn-cred", flag.ContinueOnError)
	u := fs.String("url", "ws://127.0.0.1:8080/ws", "signaling WebSocket URL (loopback only)")
	src := fs.String("source", "127.0.0.1", "source address of the connection (loopback)")
	if err := parseFlags(fs, args, out, "Connects to parley, says hello and prints the TURN credential of the welcome as shell\nassignments: TURN_USER='expiry:session' TURN_PASS='...' TURN_URLS='...'."); err != nil {
		return err
	}
	if err := loopbackURL(*u, "ws", "wss"); err != nil {
		return fmt.Errorf("-url: %w", err)
	}
	a, err := netip.ParseAddr(*src)
	if err != nil || !a.IsLoopback() {
		return fmt.Errorf("-source %q: %w", *src, errNotLoopback)
	}
	nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: a.AsSlice()}, Timeout: 10 * time.Second}
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, NetDialContext: nd.DialContext}
	ws, _, err := d.DialContext(ctx, *u, nil)
	if err != nil {
		return err
	}
	defer ws.Close()
	if err := ws.WriteMessage(websocket.TextMessage, helloFrame); err != nil {
		return err
	}
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, b, err := ws.ReadMessage()
		if err != nil {
			return err
		}
		var m struct {
			Type       string `json:"type"`
			ICEServers []struct {
				URLs       []string `json:"urls"`
				Username   string   `json:"username"`
				Credential string   `json:"credential"`
			} `json:"iceServers"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			return err
		}
		if m.Type != "welcome" {
			continue
		}
		for _, s := range m.ICEServers {
			if s.Username == "" {
				continue
			}
			fmt.Fprintf(out, "TURN_USER='%s'\nTURN_PASS='%s'\nTURN_URLS='%s'\n", s.Username, s.Credential, strings.Join(s.URLs, " "))
			_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
			return nil
		}
		return errors.New("the welcome carries no TURN credential: is the relay on (--turn-listen)?")
	}
}
