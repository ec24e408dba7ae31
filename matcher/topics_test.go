package matcher

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestDefaultTopics(t *testing.T) {
	d := DefaultTopics()
	if n := len(d.Preferences); n < 3 || n > 8 {
		t.Errorf("%d preferences, want a handful", n)
	}
	if n := len(d.Statements); n < 5 || n > 8 {
		t.Errorf("%d statements, want 5 to 8", n)
	}
	for _, p := range d.Preferences {
		if p.Labels["en"] == "" || p.Labels["nl"] == "" || p.Label != p.Labels["en"] {
			t.Errorf("preference %q: want English and Dutch labels, Label English: %+v", p.ID, p)
		}
	}
	for _, s := range d.Statements {
		if s.Texts["en"] == "" || s.Texts["nl"] == "" || s.Text != s.Texts["en"] {
			t.Errorf("statement %q: want English and Dutch texts, Text English: %+v", s.ID, s)
		}
	}
	if _, ok := d.PreferenceByID("left"); !ok {
		t.Error("no left preference")
	}
	if st, ok := d.StatementByID(d.Statements[1].ID); !ok || st != &d.Statements[1] {
		t.Error("StatementByID does not find a statement")
	}
	if _, ok := d.StatementByID("nope"); ok {
		t.Error("StatementByID finds a missing statement")
	}
	if got := d.Preferences[0].LabelIn("nl"); got != d.Preferences[0].Labels["nl"] {
		t.Errorf("LabelIn(nl) = %q", got)
	}
	if got := d.Statements[0].TextIn("fr"); got != d.Statements[0].Text {
		t.Errorf("TextIn(fr) = %q, want the English text", got)
	}
	// Each call is a fresh copy: a caller cannot change another's topics.
	d.Preferences[0].Labels["en"] = "changed"
	if DefaultTopics().Preferences[0].Labels["en"] == "changed" {
		t.Error("DefaultTopics shares state between calls")
	}
}

func TestParseTopics(t *testing.T) {
	pref := func(id, label string) string { return fmt.Sprintf(`{"id":%q,"label":%q}`, id, label) }
	stmt := func(id, text string) string { return fmt.Sprintf(`{"id":%q,"text":%q}`, id, text) }
	doc := func(prefs, stmts []string) string {
		return `{"preferences":[` + strings.Join(prefs, ",") + `],"statements":[` + strings.Join(stmts, ",") + `]}`
	}
	twoPrefs := []string{pref("a", "A"), pref("b", "B")}
	oneStmt := []string{stmt("s", "S.")}
	many := func(n int, f func(id, s string) string) []string {
		var out []string
		for i := range n {
			out = append(out, f(fmt.Sprintf("x%d", i), "X"))
		}
		return out
	}
	tests := []struct {
		name    string
		in      string
		wantErr string // substring; "" means valid
	}{
		{"minimal", doc(twoPrefs, oneStmt), ""},
		{"translations", `{"preferences":[{"id":"a","labels":{"en":"A","nl":"Een","pt-BR":"Um"}},{"id":"b","label":"B"}],` +
			`"statements":[{"id":"s","texts":{"en":"S."}}]}`, ""},
		{"same id for a preference and a statement", doc(twoPrefs, []string{stmt("a", "S.")}), ""},
		{"limits reached", doc(many(MaxPreferences, pref), []string{stmt("s", strings.Repeat("é", MaxTextLen)), stmt(strings.Repeat("a", 32), "S")}), ""},
		{"not JSON", "preferences: []", "invalid character"},
		{"null", "null", "0 preferences"},
		{"empty", "", "EOF"},
		{"trailing data", doc(twoPrefs, oneStmt) + "{}", "trailing data"},
		{"unknown field", `{"preferences":[{"id":"a","label":"A","colour":"red"},{"id":"b","label":"B"}],"statements":[]}`, "unknown field"},
		{"one preference", doc(twoPrefs[:1], oneStmt), "1 preferences"},
		{"no statements", doc(twoPrefs, nil), "0 statements"},
		{"too many preferences", doc(many(MaxPreferences+1, pref), oneStmt), "65 preferences"},
		{"too many statements", doc(twoPrefs, many(MaxStatements+1, stmt)), "65 statements"},
		{"upper-case id", doc([]string{pref("Left", "L"), pref("b", "B")}, oneStmt), "must match"},
		{"id with a space", doc([]string{pref("a b", "L"), pref("b", "B")}, oneStmt), "must match"},
		{"empty id", doc(twoPrefs, []string{stmt("", "S.")}), "must match"},
		{"id too long", doc(twoPrefs, []string{stmt(strings.Repeat("a", 33), "S.")}), "must match"},
		{"duplicate preference", doc([]string{pref("a", "A"), pref("a", "B")}, oneStmt), `duplicate id "a"`},
		{"duplicate statement", doc(twoPrefs, []string{stmt("s", "S."), stmt("s", "T.")}), `duplicate id "s"`},
		{"missing label", doc([]string{`{"id":"a"}`, pref("b", "B")}, oneStmt), "is empty"},
		{"blank text", doc(twoPrefs, []string{stmt("s", " \t")}), "is empty"},
		{"text too long", doc(twoPrefs, []string{stmt("s", strings.Repeat("x", MaxTextLen+1))}), "longer than 200"},
		{"control character", doc([]string{`{"id":"a","label":"A\u0007"}`, pref("b", "B")}, oneStmt), "control character"},
		{"bad language tag", `{"preferences":[{"id":"a","label":"A","labels":{"EN":"A"}},{"id":"b","label":"B"}],"statements":[{"id":"s","text":"S"}]}`, "bad language tag"},
		{"empty translation", `{"preferences":[{"id":"a","label":"A","labels":{"nl":""}},{"id":"b","label":"B"}],"statements":[{"id":"s","text":"S"}]}`, "nl text is empty"},
		{"too big", strings.Repeat(" ", maxTopicsBytes+1), "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTopics([]byte(tt.in))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseTopics: %v", err)
				}
				if got.Preferences[0].Label == "" {
					t.Fatal("English label not filled in")
				}
				return
			}
			if !errors.Is(err, ErrBadTopics) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ParseTopics error %v, want ErrBadTopics mentioning %q", err, tt.wantErr)
			}
		})
	}
}

// FuzzParseTopics: never panics; what it accepts is valid and survives a JSON round trip;
// what it rejects is ErrBadTopics. Seeds are in testdata/fuzz/FuzzParseTopics.
func FuzzParseTopics(f *testing.F) {
	f.Add(defaultTopicsJSON)
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := ParseTopics(b)
		if err != nil {
			if !errors.Is(err, ErrBadTopics) {
				t.Fatalf("error %v is not ErrBadTopics", err)
			}
			return
		}
		if err := got.validate(); err != nil {
			t.Fatalf("accepted invalid topics: %v", err)
		}
		out, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseTopics(out)
		if err != nil {
			t.Fatalf("re-parsing %s: %v", out, err)
		}
		if !reflect.DeepEqual(got, again) {
			t.Fatalf("round trip changed the topics:\n%+v\n%+v", got, again)
		}
		if _, err := New(Config{Topics: got}); err != nil {
			t.Fatalf("New rejects parsed topics: %v", err)
		}
	})
}
