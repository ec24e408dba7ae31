package proto

import (
	"errors"
	"strings"
	"testing"
)

func TestHelplineJoin(t *testing.T) {
	ok := Inbound{Type: TypeJoin, Mode: ModeHelpline, Media: MediaText, Consent: true}
	for _, tc := range []struct {
		name string
		edit func(*Inbound)
		want error
	}{
		{"valid without the adult confirmation", func(*Inbound) {}, nil},
		{"valid with it", func(m *Inbound) { m.Adult = true }, nil},
		{"no consent", func(m *Inbound) { m.Consent = false }, ErrConsentRequired},
		{"video", func(m *Inbound) { m.Media = MediaVideo }, ErrBadMedia},
		{"a name with markup", func(m *Inbound) { m.Name = "<i>" }, ErrBadName},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := ok
			tc.edit(&m)
			j, err := m.Join(false)
			if !errors.Is(err, tc.want) && !(tc.want == nil && err == nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if err == nil && j.Adult != m.Adult {
				t.Fatal("the adult confirmation is not passed on for the server to check")
			}
		})
	}
}

func TestHelplineStaffMessages(t *testing.T) {
	on := true
	long := strings.Repeat("x", MaxHelplineID+1)
	for _, tc := range []struct {
		name  string
		m     Inbound
		check func(*Inbound) error
		want  error
	}{
		{"shift", Inbound{On: &on, Capacity: 2}, func(m *Inbound) error { _, _, err := m.Shift(); return err }, nil},
		{"shift without on", Inbound{Capacity: 2}, func(m *Inbound) error { _, _, err := m.Shift(); return err }, ErrBadMessage},
		{"shift with a negative capacity", Inbound{On: &on, Capacity: -1}, func(m *Inbound) error { _, _, err := m.Shift(); return err }, ErrBadMessage},
		{"offer", Inbound{Offer: "abc"}, func(m *Inbound) error { _, err := m.OfferID(); return err }, nil},
		{"no offer", Inbound{}, func(m *Inbound) error { _, err := m.OfferID(); return err }, ErrNoSuchOffer},
		{"an offer too long", Inbound{Offer: long}, func(m *Inbound) error { _, err := m.OfferID(); return err }, ErrNoSuchOffer},
		{"chat", Inbound{Chat: "h1"}, func(m *Inbound) error { _, err := m.ChatID(); return err }, nil},
		{"a chat too long", Inbound{Chat: long}, func(m *Inbound) error { _, err := m.ChatID(); return err }, ErrNoSuchChat},
		{"time-out", Inbound{Chat: "h1", Hours: 24}, func(m *Inbound) error { _, _, err := m.ChatTimeOut(); return err }, nil},
		{"time-out of no hours", Inbound{Chat: "h1"}, func(m *Inbound) error { _, _, err := m.ChatTimeOut(); return err }, ErrBadMessage},
		{"handover to the queue", Inbound{Chat: "h1"}, func(m *Inbound) error { _, _, err := m.ChatHandover(); return err }, nil},
		{"handover to a handle too long", Inbound{Chat: "h1", Volunteer: long}, func(m *Inbound) error { _, _, err := m.ChatHandover(); return err }, ErrColleagueUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.check(&tc.m); !errors.Is(err, tc.want) && !(tc.want == nil && err == nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	// The staff messages decode strictly, as every other.
	if _, err := Decode([]byte(`{"type":"chat-timeout","chat":"h1","hours":2,"note":"x"}`)); !errors.Is(err, ErrBadMessage) {
		t.Fatalf("an unknown field: %v", err)
	}
}
