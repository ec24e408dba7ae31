package signaling_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/parley-chat/parley/signaling"
	"github.com/parley-chat/parley/signaling/client"
	"github.com/parley-chat/parley/signaling/helpline"
	"github.com/parley-chat/parley/store"
)

// withHelpline runs the test server with a helpline.
func withHelpline(cfg helpline.Config) serverOption {
	return withConfig(func(c *signaling.Config) { c.Helpline = &cfg })
}

// visitorCookie asks the server for a visitor cookie, as the visitor's
// page does once the visitor agreed, and returns it as a Cookie header.
func (ts *testServer) visitorCookie() string {
	ts.t.Helper()
	res, err := http.Post(ts.base+"/api/helpline/visitor", "application/json", nil)
	if err != nil {
		ts.t.Fatal(err)
	}
	res.Body.Close()
	for _, c := range res.Cookies() {
		if c.Name == signaling.VisitorCookieName && c.Value != "" {
			return c.Name + "=" + c.Value
		}
	}
	ts.t.Fatalf("no visitor cookie (%s)", res.Status)
	return ""
}

// staffCookie makes a staff member (as a registration would) and returns
// their sign-in cookie as a Cookie header, and the member.
func (ts *testServer) staffCookie(name, role string) (string, helpline.Member) {
	ts.t.Helper()
	st := &store.Staff{ID: store.NewStaffID(), Name: name, Role: role, Created: time.Now()}
	if err := ts.store.PutStaff(st); err != nil {
		ts.t.Fatal(err)
	}
	m := helpline.Member{ID: st.ID, Name: st.Name, Role: st.Role}
	c := ts.srv.Helpline().Cookie(httptest.NewRequest("GET", "/", nil), m, time.Now())
	return c.Name + "=" + c.Value, m
}

func withCookie(cookie string) peerOpt {
	return func(c *client.Config) {
		if c.Header == nil {
			c.Header = http.Header{}
		}
		c.Header.Set("Cookie", cookie)
	}
}

// visitor dials a visitor with a visitor cookie.
func (ts *testServer) visitor(opts ...peerOpt) *client.Client {
	ts.t.Helper()
	return ts.dial(append([]peerOpt{withCookie(ts.visitorCookie())}, opts...)...)
}

// volunteer dials a signed-in volunteer and waits for the shift state.
func (ts *testServer) volunteer(name string, opts ...peerOpt) *client.Client {
	ts.t.Helper()
	cookie, _ := ts.staffCookie(name, store.RoleVolunteer)
	c := ts.dial(append([]peerOpt{withCookie(cookie)}, opts...)...)
	wait(ts.t, c, "shift")
	return c
}

// onShift puts a volunteer on shift and waits until the server says so.
func onShift(t testing.TB, c *client.Client, capacity int) {
	t.Helper()
	if err := c.Shift(true, capacity); err != nil {
		t.Fatal(err)
	}
	for {
		if m := wait(t, c, "shift").Msg; m.On != nil && *m.On {
			return
		}
	}
}

// queueUp joins a visitor and returns its first queued message.
func queueUp(t testing.TB, v *client.Client) client.Event {
	t.Helper()
	if err := v.JoinHelpline("", true); err != nil {
		t.Fatal(err)
	}
	return wait(t, v, "queued")
}

// takeOffer waits for an offer to the volunteer, accepts it, and waits
// until the chat is there on both sides: it returns the volunteer's chat.
func takeOffer(t testing.TB, vol, visitor *client.Client) client.Event {
	t.Helper()
	off := wait(t, vol, "offer")
	if err := vol.Accept(off.Msg.Offer); err != nil {
		t.Fatal(err)
	}
	ch := wait(t, vol, "chat")
	if m := wait(t, visitor, "matched").Msg; m.Mode != "helpline" || m.HideIP == nil || !*m.HideIP {
		t.Fatalf("the visitor's matched: %+v", m)
	}
	return ch
}

// me is GET /api/me with the given cookies.
func (ts *testServer) me(cookie string) map[string]any {
	ts.t.Helper()
	req, _ := http.NewRequest("GET", ts.base+"/api/me", nil)
	req.Header.Set("Cookie", cookie)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		ts.t.Fatalf("GET /api/me: %v: %s", err, b)
	}
	return out
}

// erase is DELETE /api/me with the given cookies.
func (ts *testServer) erase(cookie string) error {
	req, _ := http.NewRequest("DELETE", ts.base+"/api/me", nil)
	req.Header.Set("Cookie", cookie)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent {
		return fmt.Errorf("DELETE /api/me: %s", res.Status)
	}
	return nil
}
