package templates

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// MinContrast is the contrast ratio WCAG 2.1 level AA asks of normal text
// against its background (success criterion 1.4.3, Contrast (Minimum)).
const MinContrast = 4.5

// Button text colors: white on dark backgrounds, black on light ones. One
// of the two always reaches at least 4.58:1 against any background, so
// ButtonTextColor always meets MinContrast.
const (
	ButtonTextLight = "#FFFFFF"
	ButtonTextDark  = "#000000"
)

// ParseColor reads a CSS hex color, "#rgb" or "#rrggbb" (the forms campaign
// files accept), into its 8-bit red, green and blue components.
func ParseColor(s string) (r, g, b uint8, err error) {
	h, ok := strings.CutPrefix(s, "#")
	if ok && len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	if !ok || len(h) != 6 {
		return 0, 0, 0, fmt.Errorf("color %q: want #rgb or #rrggbb", s)
	}
	v, err := strconv.ParseUint(h, 16, 32)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("color %q: want #rgb or #rrggbb", s)
	}
	return uint8(v >> 16), uint8(v >> 8), uint8(v), nil
}

// luminance is the relative luminance of an sRGB color, 0 (black) to 1
// (white), as WCAG 2.1 defines it (Definitions: relative luminance).
func luminance(r, g, b uint8) float64 {
	lin := func(c uint8) float64 {
		v := float64(c) / 255
		if v <= 0.04045 {
			return v / 12.92
		}
		return math.Pow((v+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(r) + 0.7152*lin(g) + 0.0722*lin(b)
}

// Contrast returns the WCAG 2.1 contrast ratio of two hex colors, from 1
// (the same) to 21 (black on white): (L1 + 0.05) / (L2 + 0.05) with L1 the
// lighter relative luminance (WCAG 2.1, Definitions: contrast ratio). It
// fails when either color is not #rgb or #rrggbb.
func Contrast(a, b string) (float64, error) {
	ar, ag, ab, err := ParseColor(a)
	if err != nil {
		return 0, err
	}
	br, bg, bb, err := ParseColor(b)
	if err != nil {
		return 0, err
	}
	la, lb := luminance(ar, ag, ab), luminance(br, bg, bb)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05), nil
}

// ButtonTextColor picks the text color for a button whose background is bg
// (#rgb or #rrggbb): white when white text reaches MinContrast, else
// whichever of white and ButtonTextDark contrasts more. A color it cannot
// read gets white, the themes' default.
func ButtonTextColor(bg string) string {
	light, err := Contrast(bg, ButtonTextLight)
	if err != nil || light >= MinContrast {
		return ButtonTextLight
	}
	if dark, _ := Contrast(bg, ButtonTextDark); dark > light {
		return ButtonTextDark
	}
	return ButtonTextLight
}
