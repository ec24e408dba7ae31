package matcher

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds on a topics file. They keep the welcome message small and the UI readable.
const (
	MaxPreferences = 64
	MaxStatements  = 64
	MaxTextLen     = 200 // characters (runes) in a label or a statement text
	maxIDLen       = 32  // preference and statement ids: ^[a-z0-9-]{1,32}$
	maxLanguages   = 16
	maxTopicsBytes = 1 << 20
)

// Topics is the operator's list of preferences (opposite mode) and statements to debate.
// Once handed to New it is read-only: pairs point into its Statements.
type Topics struct {
	Preferences []Preference `json:"preferences"`
	Statements  []Statement  `json:"statements"`
}

// Preference is one political preference a person may declare in opposite mode.
type Preference struct {
	ID     string            `json:"id"`
	Label  string            `json:"label"`            // English
	Labels map[string]string `json:"labels,omitempty"` // by language: "en", "nl"
}

// Statement is a proposition two people with different preferences discuss.
type Statement struct {
	ID    string            `json:"id"`
	Text  string            `json:"text"`            // English
	Texts map[string]string `json:"texts,omitempty"` // by language: "en", "nl"
}

//go:embed topics.json
var defaultTopicsJSON []byte

// DefaultTopics returns a fresh copy of the embedded demo topics (matcher/topics.json).
func DefaultTopics() *Topics {
	t, err := ParseTopics(defaultTopicsJSON)
	if err != nil {
		panic("matcher: embedded topics.json: " + err.Error()) // a test guards the file
	}
	return t
}

// ParseTopics decodes and validates a topics file. Unknown fields and trailing data are
// errors so that typos in an operator's file are reported, not ignored. A missing English
// label or text is taken from labels["en"] or texts["en"]. Every error wraps ErrBadTopics.
func ParseTopics(b []byte) (*Topics, error) {
	if len(b) > maxTopicsBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrBadTopics, maxTopicsBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var t Topics
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadTopics, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: trailing data after the JSON object", ErrBadTopics)
	}
	t.fill()
	if err := t.validate(); err != nil {
		return nil, err
	}
	return &t, nil
}

// PreferenceByID returns the preference with that id.
func (t *Topics) PreferenceByID(id string) (Preference, bool) {
	for _, p := range t.Preferences {
		if p.ID == id {
			return p, true
		}
	}
	return Preference{}, false
}

// StatementByID returns the statement with that id (the store keeps only the id of a pair's statement).
func (t *Topics) StatementByID(id string) (*Statement, bool) {
	for i := range t.Statements {
		if t.Statements[i].ID == id {
			return &t.Statements[i], true
		}
	}
	return nil, false
}

// LabelIn returns the label in lang, or the English one when there is none.
func (p Preference) LabelIn(lang string) string {
	if s, ok := p.Labels[lang]; ok {
		return s
	}
	return p.Label
}

// TextIn returns the text in lang, or the English one when there is none.
func (s Statement) TextIn(lang string) string {
	if x, ok := s.Texts[lang]; ok {
		return x
	}
	return s.Text
}

// fill takes missing English texts from the "en" translation and drops empty maps,
// so that a parsed value survives a JSON round trip unchanged.
func (t *Topics) fill() {
	for i := range t.Preferences {
		p := &t.Preferences[i]
		if p.Label == "" {
			p.Label = p.Labels["en"]
		}
		if len(p.Labels) == 0 {
			p.Labels = nil
		}
	}
	for i := range t.Statements {
		s := &t.Statements[i]
		if s.Text == "" {
			s.Text = s.Texts["en"]
		}
		if len(s.Texts) == 0 {
			s.Texts = nil
		}
	}
}

func (t *Topics) validate() error {
	if n := len(t.Preferences); n < 2 || n > MaxPreferences {
		return fmt.Errorf("%w: %d preferences, want 2 to %d", ErrBadTopics, n, MaxPreferences)
	}
	if n := len(t.Statements); n < 1 || n > MaxStatements {
		return fmt.Errorf("%w: %d statements, want 1 to %d", ErrBadTopics, n, MaxStatements)
	}
	seen := make(map[string]bool, len(t.Preferences))
	for i, p := range t.Preferences {
		if err := checkItem(p.ID, p.Label, p.Labels, seen); err != nil {
			return fmt.Errorf("%w: preference %d: %s", ErrBadTopics, i, err)
		}
	}
	clear(seen)
	for i, s := range t.Statements {
		if err := checkItem(s.ID, s.Text, s.Texts, seen); err != nil {
			return fmt.Errorf("%w: statement %d: %s", ErrBadTopics, i, err)
		}
	}
	return nil
}

func checkItem(id, text string, texts map[string]string, seen map[string]bool) error {
	if !validID(id) {
		return fmt.Errorf("id %q must match ^[a-z0-9-]{1,%d}$", truncate(id), maxIDLen)
	}
	if seen[id] {
		return fmt.Errorf("duplicate id %q", id)
	}
	seen[id] = true
	if err := checkText(text); err != nil {
		return fmt.Errorf("%q: English text %s", id, err)
	}
	if len(texts) > maxLanguages {
		return fmt.Errorf("%q: %d languages, at most %d", id, len(texts), maxLanguages)
	}
	for lang, s := range texts {
		if !validLang(lang) {
			return fmt.Errorf("%q: bad language tag %q", id, truncate(lang))
		}
		if err := checkText(s); err != nil {
			return fmt.Errorf("%q: %s text %s", id, lang, err)
		}
	}
	return nil
}

func validID(id string) bool {
	if len(id) < 1 || len(id) > maxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// validLang accepts simple tags: "en", "nl", "pt-BR", "zh-Hant".
func validLang(tag string) bool {
	base, region, _ := strings.Cut(tag, "-")
	if len(base) < 2 || len(base) > 3 || strings.IndexFunc(base, func(r rune) bool { return r < 'a' || r > 'z' }) >= 0 {
		return false
	}
	if !strings.Contains(tag, "-") {
		return true
	}
	return len(region) >= 2 && len(region) <= 8 && strings.IndexFunc(region, func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9')
	}) < 0
}

func checkText(s string) error {
	switch {
	case strings.TrimSpace(s) == "":
		return errors.New("is empty")
	case !utf8.ValidString(s):
		return errors.New("is not valid UTF-8")
	case utf8.RuneCountInString(s) > MaxTextLen:
		return fmt.Errorf("is longer than %d characters", MaxTextLen)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return errors.New("contains a control character")
	}
	return nil
}

// truncate keeps error messages short when a file holds garbage.
func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func (t *Topics) clone() *Topics {
	c := &Topics{
		Preferences: make([]Preference, len(t.Preferences)),
		Statements:  make([]Statement, len(t.Statements)),
	}
	for i, p := range t.Preferences {
		p.Labels = maps.Clone(p.Labels)
		c.Preferences[i] = p
	}
	for i, s := range t.Statements {
		s.Texts = maps.Clone(s.Texts)
		c.Statements[i] = s
	}
	return c
}
