package templates

import (
	"math"
	"testing"
)

// Known ratios from the WCAG 2.1 definition: black on white is 21:1, and
// #767676 is the lightest grey that passes AA on white.
func TestContrast(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		a, b string
		want float64
	}{{"#000", "#FFFFFF", 21}, {"#fff", "#fff", 1}, {"#767676", "#FFFFFF", 4.54}, {"#777777", "#ffffff", 4.48}} {
		got, err := Contrast(c.a, c.b)
		if err != nil || math.Abs(got-c.want) > 0.01 {
			t.Errorf("Contrast(%s, %s) = %.3f, %v; want %.2f", c.a, c.b, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "red", "#12345", "#GGGGGG", "123456"} {
		if _, err := Contrast(bad, "#fff"); err == nil {
			t.Errorf("Contrast(%q) accepted", bad)
		}
	}
}

// Every button a theme draws, and the text ButtonTextColor picks for any
// campaign color, passes WCAG 2.1 AA (1.4.3): at least 4.5:1.
func TestButtonContrast(t *testing.T) {
	t.Parallel()
	for _, name := range Themes {
		pairs, err := ButtonColors(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pairs {
			if r, err := Contrast(p[0], p[1]); err != nil || r < MinContrast {
				t.Errorf("%s: %s on %s: %.2f:1 (%v)", name, p[0], p[1], r, err)
			}
		}
	}
	if _, err := ButtonColors("neon"); err == nil {
		t.Error("unknown theme accepted")
	}
	for v := 0; v < 1<<12; v += 7 {
		bg := "#" + string("0123456789abcdef"[v>>8]) + string("0123456789abcdef"[v>>4&15]) + string("0123456789abcdef"[v&15])
		fg := ButtonTextColor(bg)
		if r, _ := Contrast(fg, bg); r < MinContrast {
			t.Errorf("ButtonTextColor(%s) = %s: %.2f:1", bg, fg, r)
		}
	}
	if ButtonTextColor("#2f6f4f") != ButtonTextLight || ButtonTextColor("#FFD54F") != ButtonTextDark {
		t.Error("ButtonTextColor picks white on dark green and black on amber")
	}
}
