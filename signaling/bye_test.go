package signaling_test

import (
	"testing"
	"time"

	"github.com/parley-chat/parley/signaling/proto"

	"github.com/parley-chat/parley/signaling"
	"github.com/parley-chat/parley/signaling/client"
)

// A closed tab: the page says bye and its socket closes. The partner hears
// partner-reconnecting at once (a reload looks the same) and partner-left
// with reason closed after the bye window, long before the resume window.
func TestByeThenCloseEndsTheChatAfterTheByeWindow(t *testing.T) {
	ts := newTestServer(t, withConfig(func(c *signaling.Config) {
		c.ResumeWindow = 30 * time.Second
		c.ByeWindow = 300 * time.Millisecond
	}))
	a, b := ts.dial(signalingOnly()), ts.dial(signalingOnly())
	match(t, a, b)
	if err := a.SendJSON(map[string]string{"type": proto.TypeBye}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	a.Close()
	wait(t, b, "partner-reconnecting")
	if m := wait(t, b, "partner-left").Msg; m.Reason != proto.ReasonClosed {
		t.Fatalf("reason %q, want closed", m.Reason)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("partner-left after %v: the resume window was used, not the bye window", d)
	}
}

// A reload: bye, the socket closes, and the same cookie is back within the
// bye window: the chat resumes as after any drop.
func TestByeThenReloadResumes(t *testing.T) {
	ts := newTestServer(t, withConfig(func(c *signaling.Config) {
		c.ResumeWindow = 30 * time.Second
		c.ByeWindow = 5 * time.Second
	}))
	a, b := ts.dial(signalingOnly()), ts.dial(signalingOnly())
	match(t, a, b)
	tok := a.Token()
	if err := a.SendJSON(map[string]string{"type": proto.TypeBye}); err != nil {
		t.Fatal(err)
	}
	a.Close()
	wait(t, b, "partner-reconnecting")
	a2 := ts.dial(signalingOnly(), func(c *client.Config) { c.Token = tok })
	if w := a2.Welcome(); w.State != "paired" {
		t.Fatalf("welcome state %q, want paired", w.State)
	}
	ma, mb := wait(t, a2, "matched").Msg, wait(t, b, "matched").Msg
	if !*ma.Resumed || !*mb.Resumed || ma.Pair != mb.Pair {
		t.Fatalf("resumed %v/%v pair %s/%s", *ma.Resumed, *mb.Resumed, ma.Pair, mb.Pair)
	}
}

// A browser that cannot connect sends leave with reason failed: it hears
// left, and the partner hears partner-left with reason failed. A leave
// without a reason is a plain leave; another reason is bad_reason.
func TestLeaveFailedTellsThePartner(t *testing.T) {
	ts := newTestServer(t)
	for _, tc := range []struct{ sent, heard string }{
		{proto.ReasonFailed, proto.ReasonFailed},
		{"", proto.ReasonLeave},
	} {
		t.Run("reason "+tc.sent, func(t *testing.T) {
			a, b := ts.dial(signalingOnly()), ts.dial(signalingOnly())
			match(t, a, b)
			msg := map[string]string{"type": proto.TypeLeave}
			if tc.sent != "" {
				msg["reason"] = tc.sent
			}
			if err := a.SendJSON(msg); err != nil {
				t.Fatal(err)
			}
			wait(t, a, "left")
			if m := wait(t, b, "partner-left").Msg; m.Reason != tc.heard {
				t.Fatalf("partner heard %q, want %q", m.Reason, tc.heard)
			}
			// Both are idle; both can queue again.
			match(t, a, b)
			a.Close()
			b.Close()
		})
	}
}

func TestLeaveWithAnotherReasonIsRefused(t *testing.T) {
	ts := newTestServer(t)
	a, b := ts.dial(signalingOnly()), ts.dial(signalingOnly())
	match(t, a, b)
	if err := a.SendJSON(map[string]string{"type": proto.TypeLeave, "reason": "abuse"}); err != nil {
		t.Fatal(err)
	}
	if m := wait(t, a, "error", "left").Msg; m.Code != proto.CodeBadReason {
		t.Fatalf("got %+v", m)
	}
	// The chat went on: a plain leave now ends it, and b hears that one.
	if err := a.Leave(); err != nil {
		t.Fatal(err)
	}
	wait(t, a, "left")
	if m := wait(t, b, "partner-left").Msg; m.Reason != proto.ReasonLeave {
		t.Fatalf("b heard %q", m.Reason)
	}
}

// welcome announces the bye window, never longer than the resume window.
func TestWelcomeAnnouncesTheByeWindow(t *testing.T) {
	for _, tc := range []struct {
		resume, bye time.Duration
		want        int
	}{
		{30 * time.Second, 0, 5},
		{30 * time.Second, 8 * time.Second, 8},
		{2 * time.Second, 0, 2},
	} {
		t.Run(tc.resume.String()+"/"+tc.bye.String(), func(t *testing.T) {
			ts := newTestServer(t, withConfig(func(c *signaling.Config) { c.ResumeWindow, c.ByeWindow = tc.resume, tc.bye }))
			w := ts.dial(signalingOnly()).Welcome()
			if w.Limits == nil || w.Limits.ByeWindowSeconds != tc.want {
				t.Fatalf("limits %+v, want byeWindowSeconds %d", w.Limits, tc.want)
			}
		})
	}
}

// bye is not an action: it needs hello first like any message, gets no
// answer, and changes nothing while the socket stays open.
func TestByeBeforeHelloAndWithoutClose(t *testing.T) {
	ts := newTestServer(t)
	rc := ts.raw(false)
	rc.send(`{"type":"bye"}`)
	rc.expectError("not_hello")
	rc.send(`{"type":"hello","v":1}`)
	rc.expect("welcome")
	rc.send(`{"type":"bye"}`)
	rc.send(`{"type":"leave"}`)
	rc.expect("left") // nothing came in between
}
