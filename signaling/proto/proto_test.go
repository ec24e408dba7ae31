package proto

import (
	"bytes"
	"errors"
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
