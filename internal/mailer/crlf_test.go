package mailer

import "testing"

// cleanCRLF decides whether a body is copied in large pieces or goes
// through the byte-by-byte DotWriter that repairs line ends.
func TestCleanCRLF(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		"":                false,
		"no line end":     true,
		"a\r\n":           true,
		"a\r\nb\r\n\r\n":  true,
		"a\n":             false,
		"a\r":             false,
		"\r\n\n":          false,
		"a\r\r\n":         false,
		"a\n\r":           false,
		"a\r\nb\nc\r\n":   false,
		"a\r\nb\rc\r\n":   false,
		"\n\r\n\r":        false,
		"\r\n.\r\n..\r\n": true,
	} {
		if got := cleanCRLF([]byte(in)); got != want {
			t.Errorf("cleanCRLF(%q) = %v, want %v", in, got, want)
		}
	}
}
