package proto

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestDecodeRefusesWhatTheProtocolDoesNotName(t *testing.T) {
	for _, tc := range []struct{ name, frame string }{
		{"unknown field", `{"type":"join","text":"hi"}`},
		{"unknown nested field", `{"type":"signal","data":{"sdp":{"type":"offer","sdp":"","chat":"hi"}}}`},
		{"two values", `{"type":"next"}{"type":"next"}`},
		{"no type", `{"v":1}`},
		{"not an object", `[1,2]`},
		{"wrong type", `{"type":1}`},
		// Stricter than encoding/json, which took the last of two values,
		// matched names in any case and replaced invalid UTF-8.
		{"a field given twice", `{"type":"leave","reason":"a","reason":"hi"}`},
		{"a nested field given twice", `{"type":"signal","data":{"candidate":{"candidate":"","candidate":"hi"}}}`},
		{"a name in another case", `{"type":"leave","Reason":"hi"}`},
		{"invalid UTF-8", "{\"type\":\"leave\",\"reason\":\"hi\xff\"}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.frame))
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("got %v, want ErrBadMessage", err)
			}
			if strings.Contains(err.Error(), "hi") {
				t.Fatalf("the error quotes the input: %v", err)
			}
		})
	}
}

func TestJoinValidation(t *testing.T) {
	ok := Inbound{Type: TypeJoin, Mode: ModeRandom, Media: MediaText, Consent: true, Adult: true}
	for _, tc := range []struct {
		name string
		edit func(*Inbound)
		want error
	}{
		{"valid", func(*Inbound) {}, nil},
		{"no consent", func(m *Inbound) { m.Consent = false }, ErrConsentRequired},
		{"not adult", func(m *Inbound) { m.Adult = false }, ErrConsentRequired},
		{"bad mode", func(m *Inbound) { m.Mode = "x" }, ErrBadMode},
		{"bad media", func(m *Inbound) { m.Media = "smell" }, ErrBadMedia},
		{"opposite without its consent", func(m *Inbound) { m.Mode, m.Preference = ModeOpposite, "left" }, ErrConsentRequired},
		{"opposite without preference", func(m *Inbound) { m.Mode, m.PreferenceConsent = ModeOpposite, true }, ErrBadPreference},
		{"name too long", func(m *Inbound) { m.Name = strings.Repeat("é", MaxNameLength+1) }, ErrBadName},
		{"name with markup", func(m *Inbound) { m.Name = "<b>" }, ErrBadName},
		{"too many interests", func(m *Inbound) { m.Mode, m.Interests = ModeInterests, []string{"a", "b", "c", "d", "e", "f"} }, ErrBadInterests},
		{"empty interest", func(m *Inbound) { m.Mode, m.Interests = ModeInterests, []string{" "} }, ErrBadInterests},
		{"audio", func(m *Inbound) { m.Media = MediaAudio }, nil},
		{"a language", func(m *Inbound) { m.Language = "nl" }, nil},
		{"a language with a region", func(m *Inbound) { m.Language = "pt-br" }, nil},
		{"a language in capitals", func(m *Inbound) { m.Language = "NL" }, ErrBadLanguage},
		{"a country is no language", func(m *Inbound) { m.Language = "x" }, ErrBadLanguage},
		{"a language with markup", func(m *Inbound) { m.Language = "en-<b>" }, ErrBadLanguage},
		{"a proof of work", func(m *Inbound) { m.Pow = goodShape() }, nil},
		{"a proof of work with a nonce missing", func(m *Inbound) { m.Pow = goodShape(); m.Pow.Nonces = m.Pow.Nonces[1:] }, ErrBadPow},
		{"a proof of work with too many parts", func(m *Inbound) {
			m.Pow = goodShape()
			m.Pow.Parts, m.Pow.Nonces = MaxPowParts+1, make([]uint32, MaxPowParts+1)
		}, ErrBadPow},
		{"a proof of work without bits", func(m *Inbound) { m.Pow = goodShape(); m.Pow.Bits = 0 }, ErrBadPow},
		{"a proof of work with a bad id", func(m *Inbound) { m.Pow = goodShape(); m.Pow.ID = strings.Repeat("*", PowIDLength) }, ErrBadPow},
		{"a proof of work with a short mac", func(m *Inbound) { m.Pow = goodShape(); m.Pow.MAC = "abc" }, ErrBadPow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := ok
			tc.edit(&m)
			_, err := m.Join(false)
			if !errors.Is(err, tc.want) && !(tc.want == nil && err == nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	m := ok
	m.Mode, m.Interests, m.Name = ModeInterests, []string{" Chess", "chess", "JAZZ"}, "  Ann "
	j, err := m.Join(true)
	if err != nil || j.Name != "Ann" || len(j.Interests) != 2 || j.Interests[1] != "jazz" || !j.HideIP {
		t.Fatalf("%+v %v", j, err)
	}
}

// A frame leaves the server no bigger than what it carries: no HTML escaping
// that turns one '<' into six bytes (issue 10, point 1).
func TestEncodeDoesNotAmplify(t *testing.T) {
	payload := strings.Repeat("<>&", 1000)
	frame := Encode(&Outbound{Type: TypeError, Message: payload})
	if len(frame) > len(payload)+64 {
		t.Fatalf("a %d-byte payload became a %d-byte frame", len(payload), len(frame))
	}
	if !bytes.Contains(frame, []byte(payload)) || bytes.HasSuffix(frame, []byte("\n")) {
		t.Fatalf("frame %q", frame[:64])
	}
}

func TestEveryErrorHasItsCodeAndMessage(t *testing.T) {
	for _, m := range errorCodes {
		if CodeOf(m.err) != m.code {
			t.Errorf("%v -> %s, want %s", m.err, CodeOf(m.err), m.code)
		}
		if msg := MessageOf(m.err); msg == "" || strings.HasPrefix(msg, "proto") {
			t.Errorf("message of %v: %q", m.err, msg)
		}
	}
	if CodeOf(errors.New("other")) != CodeInternal || MessageOf(errors.New("secret 10.0.0.1")) != "internal error" {
		t.Error("an unknown error must be internal and say nothing more")
	}
}

func goodShape() *PowSolution {
	return &PowSolution{
		PowChallenge: PowChallenge{ID: strings.Repeat("A", PowIDLength), Bits: 4, Parts: 2, Expires: 1, MAC: strings.Repeat("A", powMACLen)},
		Nonces:       []uint32{1, 2},
	}
}

// SolvePow finds nonces whose hashes begin with the asked zero bits, the
// smallest for each part, and stops when told to.
func TestSolvePow(t *testing.T) {
	c := &PowChallenge{ID: "q0p1a2b3c4d5e6f7g8h9iA", Bits: 8, Parts: 3}
	s, err := SolvePow(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	for part, n := range s.Nonces {
		if !PowPartOK(c.ID, c.Bits, part, n) {
			t.Fatalf("part %d: nonce %d does not solve it", part, n)
		}
		for m := range n {
			if PowPartOK(c.ID, c.Bits, part, m) {
				t.Fatalf("part %d: %d solves it too and is smaller than %d", part, m, n)
			}
		}
		// The input, as every client must hash it.
		d := sha256.Sum256([]byte(fmt.Sprintf("%s:%d:%d", c.ID, part, n)))
		if d[0] != 0 {
			t.Fatalf("part %d: digest %x", part, d)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := SolvePow(ctx, &PowChallenge{ID: c.ID, Bits: 32, Parts: 1}); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled solve: %v", err)
	}
}

// The errors of a proof of work carry a fresh challenge to the client.
func TestPowErrorCarriesAChallenge(t *testing.T) {
	ch := &PowChallenge{ID: "x", Bits: 17, Parts: 4, Expires: 99, MAC: "m"}
	var m Outbound
	if err := json.Unmarshal(ErrorFrame(&PowError{Err: ErrBadPow, Challenge: ch}), &m); err != nil {
		t.Fatal(err)
	}
	if m.Code != CodeBadPow || m.Pow == nil || *m.Pow != *ch {
		t.Fatalf("%+v", m)
	}
	var other Outbound
	if err := json.Unmarshal(ErrorFrame(ErrBadMode), &other); err != nil || other.Pow != nil {
		t.Fatalf("another error carries a challenge: %+v", other)
	}
}

func TestValidLanguage(t *testing.T) {
	for s, want := range map[string]bool{
		"en": true, "nl": true, "fil": true, "pt-br": true, "zh-hant": true, "sr-latn": true,
		"": false, "e": false, "engl": false, "EN": false, "en-": false, "en-b": false, "en_gb": false,
		"en-123456789": false, "12": false, "en-gb-x": false, "nl ": false,
	} {
		if got := ValidLanguage(s); got != want {
			t.Errorf("ValidLanguage(%q) = %v, want %v", s, got, want)
		}
	}
}
