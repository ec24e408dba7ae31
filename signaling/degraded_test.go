package signaling_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/parley-chat/parley/signaling/proto"
)

// A node without a leader (a cluster's minority side) erases nothing and
// says so: DELETE /api/me answers 503 and keeps the cookie, so the person
// can try again. A connection it welcomed without a cookie has no session
// to bring to the next leader: it is closed with 1012 and reconnects,
// rather than sharing one session with every other such connection.
func TestNodeWithoutLeader(t *testing.T) {
	ts := newTestServer(t)
	c := ts.dial(signalingOnly())
	token := c.Token()
	ts.srv.Degrade()
	if !ts.srv.Degraded() || ts.srv.Leads() {
		t.Fatal("without a leader: Degraded false (/readyz would say ready) or Leads true (the admin API would write)")
	}

	req, _ := http.NewRequest("DELETE", ts.base+"/api/me", nil)
	req.Header.Set("Cookie", proto.CookieName+"="+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Fatalf("DELETE /api/me without a leader: %s, Retry-After %q", res.Status, res.Header.Get("Retry-After"))
	}
	if sc := res.Header.Values("Set-Cookie"); len(sc) > 0 {
		t.Fatalf("the cookie was touched though nothing was erased: %q", sc)
	}

	var cookieless []*rawConn
	for range 2 {
		rc := ts.raw(false)
		rc.send(`{"type":"hello","v":2}`)
		if w := rc.expect("welcome"); w.State != "unavailable" {
			t.Fatalf("welcome without a leader: %+v", w)
		}
		cookieless = append(cookieless, rc)
	}
	ts.srv.Lead()
	if ts.srv.Degraded() || !ts.srv.Leads() {
		t.Fatal("after taking the lead: Degraded, or not Leads")
	}
	for i, rc := range cookieless {
		_ = rc.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			_, _, err := rc.ws.ReadMessage()
			if err == nil {
				continue
			}
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != proto.CloseServerRestart {
				t.Fatalf("cookieless connection %d when the leader came: %v", i, err)
			}
			break
		}
	}
	if err := ts.erase(proto.CookieName + "=" + token); err != nil {
		t.Fatalf("with a leader again: %v", err)
	}
}
