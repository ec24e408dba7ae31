package proto

import (
	"os"
	"strings"
	"testing"
)

// TestErrorCodesDocumented keeps the error table of docs/PROTOCOL.md equal
// to errors.go: every wire code has its row, with the exact message sent.
func TestErrorCodesDocumented(t *testing.T) {
	b, err := os.ReadFile("../../docs/PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, m := range errorCodes {
		row := "| `" + m.code + "` | " + MessageOf(m.err) + " |"
		if !strings.Contains(doc, row) {
			t.Errorf("docs/PROTOCOL.md has no row %q", row)
		}
	}
	for _, code := range []string{CodeTooLarge, CodeBanned} {
		if !strings.Contains(doc, "| `"+code+"` |") {
			t.Errorf("docs/PROTOCOL.md does not say what becomes of %s", code)
		}
	}
}
