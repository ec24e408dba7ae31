package signaling_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/signaling"
	"github.com/parley-chat/parley/signaling/client"
	"github.com/parley-chat/parley/signaling/pow"
	"github.com/parley-chat/parley/signaling/proto"
)

// What issue 15 added to a join, over a real socket: the proof of work, a
// chat language, audio, and block.

// A raw client that does not send the work is asked for it, with a
// challenge; another connection's solution is refused; its own passes.
func TestProofOfWorkOverTheWire(t *testing.T) {
	ts := newTestServer(t)
	other := ts.raw(true)
	rc := ts.raw(true)
	if rc.pow == nil {
		t.Fatal("welcome carried no challenge")
	}
	own := rc.pow
	rc.pow = nil
	rc.send(joinRandom)
	m := rc.expect("error")
	if m.Code != proto.CodePowRequired || m.Pow == nil || m.Pow.ID == own.ID {
		t.Fatalf("a join without work: %+v", m)
	}
	rc.pow = other.pow
	rc.send(joinRandom)
	if m := rc.expect("error"); m.Code != proto.CodeBadPow || m.Pow == nil {
		t.Fatalf("a join with another session's work: %+v", m)
	}
	rc.pow = own
	rc.send(joinRandom)
	rc.expect("queued")
	// Once done, the work is not asked again.
	rc.pow = nil
	rc.send(`{"type":"next"}`)
	rc.expect("queued")
	rc.send(`{"type":"join","mode":"random","media":"video","consent":true,"adult":true}`)
	rc.expect("queued")
}

// The Go client solves the work of welcome; a join with someone else's
// solution is refused; and a client that joins after its challenge expired
// solves the fresh one that came with the refusal and joins by itself.
func TestClientSolvesAgainAfterExpiry(t *testing.T) {
	ts := newTestServer(t, withConfig(func(c *signaling.Config) { c.ProofOfWork = pow.Config{Bits: 4, TTL: 3 * time.Second} }))
	a := ts.dial(signalingOnly())
	join(t, a, client.Join{})

	stolen, _ := json.Marshal(map[string]any{"type": "join", "mode": "random", "media": "text", "consent": true, "adult": true,
		"pow": ts.raw(true).pow})
	c := ts.dial(signalingOnly())
	if err := c.SendFrame(stolen); err != nil {
		t.Fatal(err)
	}
	if ev := wait(t, c, "error"); ev.Msg.Code != proto.CodeBadPow {
		t.Fatalf("a join with another's solution: %+v", ev.Msg)
	}

	// The moment c's challenge expires (no timing is asserted: whatever comes
	// after it, the challenge is expired).
	time.Sleep(time.Until(time.Unix(c.Welcome().Pow.Expires, 0)))
	if err := c.Join(client.Join{}); err != nil {
		t.Fatal(err)
	}
	if ev := wait(t, c, "error", "matched"); ev.Msg.Code != proto.CodeBadPow || ev.Msg.Pow == nil {
		t.Fatalf("a join with expired work: %+v", ev.Msg)
	}
	wait(t, c, "matched") // with a, after the client solved the new challenge
}

// The configured languages are announced; a join in another one is refused;
// people of one language meet each other first, audio only audio.
func TestLanguagesAndAudio(t *testing.T) {
	ts := newTestServer(t, withConfig(func(c *signaling.Config) { c.Languages = []string{"en", "nl"} }))
	a := ts.dial(signalingOnly())
	if got := a.Welcome().Languages; !slices.Equal(got, []string{"en", "nl"}) {
		t.Fatalf("welcome's languages %q", got)
	}
	if f := a.Welcome().Features; !slices.Contains(f, "audio") || !slices.Contains(f, "language") || !slices.Contains(f, "block") {
		t.Fatalf("features %q", f)
	}
	if err := a.Join(client.Join{Language: "fr"}); err != nil {
		t.Fatal(err)
	}
	if ev := wait(t, a, "error"); ev.Msg.Code != proto.CodeBadLanguage {
		t.Fatalf("a join in French: %+v", ev.Msg)
	}
	join(t, a, client.Join{Media: proto.MediaAudio, Language: "nl"})
	b := ts.dial(signalingOnly())
	join(t, b, client.Join{Media: proto.MediaAudio, Language: "en"})
	c := ts.dial(signalingOnly())
	join(t, c, client.Join{Media: proto.MediaText, Language: "nl"})
	d := ts.dial(signalingOnly())
	if err := d.Join(client.Join{Media: proto.MediaAudio, Language: "nl"}); err != nil {
		t.Fatal(err)
	}
	ma, md := wait(t, a, "matched"), wait(t, d, "matched")
	for _, m := range []*proto.Outbound{ma.Msg, md.Msg} {
		if m.Media != proto.MediaAudio || m.Language != "nl" || ma.Msg.Pair != md.Msg.Pair {
			t.Fatalf("matched %+v", m)
		}
	}
}

// Block over the wire, between two pion peers in a chat: the chat ends for
// both, the blocker hears blocked, the other that the chat was left.
func TestBlockOverTheWire(t *testing.T) {
	ts := newTestServer(t)
	a, b := ts.dial(), ts.dial()
	pairUp(t, a, b, client.Join{})
	if err := a.Block(); err != nil {
		t.Fatal(err)
	}
	wait(t, a, "blocked")
	if ev := wait(t, b, "partner-left"); ev.Msg.Reason != proto.ReasonLeave {
		t.Fatalf("b was told %q", ev.Msg.Reason)
	}
	if err := a.Block(); err != nil { // again: still the last partner, nothing new
		t.Fatal(err)
	}
	wait(t, a, "blocked")
}

// The chat language is held with the join in memory only: the stored
// session record has no trace of it.
func TestLanguageIsNotStored(t *testing.T) {
	ts := newTestServer(t, withConfig(func(c *signaling.Config) { c.Languages = []string{"en", "pt-br"} }))
	a := ts.dial(signalingOnly())
	join(t, a, client.Join{Language: "pt-br", Media: proto.MediaAudio})
	b := ts.dial(signalingOnly())
	if err := b.Join(client.Join{Language: "pt-br", Media: proto.MediaAudio}); err != nil {
		t.Fatal(err)
	}
	if m := wait(t, a, "matched").Msg; m.Language != "pt-br" {
		t.Fatalf("matched %+v", m)
	}
	// The record is written once the chat is: wait for the persister.
	key := ts.store.SessionKey(a.Token())
	var rec []byte
	for range 100 {
		if r, err := ts.store.GetSession(key); err == nil && r.Chat != "" {
			rec, _ = json.Marshal(r)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if rec == nil {
		t.Fatal("the session was not stored")
	}
	if strings.Contains(string(rec), "pt-br") || strings.Contains(string(rec), "language") {
		t.Fatalf("the stored record holds the language: %s", rec)
	}
}
