package roster

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kizuna-alumni/kizuna/internal/tz"
)

// maxZones bounds the time-zone cache of one Reader.
const maxZones = 1024

// parse checks one record and turns it into a Row, or says why it cannot be
// one. Checks run in an order that gives the most useful reason first:
// syntax, then characters, then the meaning of each column.
func (r *Reader) parse(rec *record) (Row, *Rejection, error) {
	h := r.hdr
	rawEmail, _ := h.field(rec, colEmail)
	reject := func(format string, args ...any) (Row, *Rejection, error) {
		return Row{}, &Rejection{Line: rec.line, Email: clip(rawEmail, 254), Reason: fmt.Sprintf(format, args...)}, nil
	}
	if rec.err != "" {
		return reject("%s", rec.err)
	}
	for i, f := range rec.fields {
		if rec.long[i] || utf8.RuneCountInString(f) > MaxFieldChars {
			return reject("%s is longer than %d characters", h.columnName(i), MaxFieldChars)
		}
		if !utf8.ValidString(f) || strings.ContainsRune(f, utf8.RuneError) {
			return reject("%s holds bytes that are neither UTF-8 nor CP932 (is the file in another encoding?)", h.columnName(i))
		}
		if c, ok := badChar(f); ok {
			return reject("%s contains a control character (%U); line breaks and tabs are not allowed in any field", h.columnName(i), c)
		}
	}

	row := Row{Line: rec.line, RawEmail: rawEmail}
	email, err := checkEmail(rawEmail)
	if err != nil {
		return reject("%v", err)
	}
	row.Email = email

	text := func(col column) string { v, _ := h.field(rec, col); return v }
	row.FamilyName, row.GivenName = text(colFamilyName), text(colGivenName)
	row.FamilyNameKana, row.GivenNameKana = text(colFamilyNameKana), text(colGivenNameKana)
	row.EmployeeID, row.Department = text(colEmployeeID), text(colDepartment)
	row.ConsentSource = text(colConsentSource)

	if v := text(colLocale); v != "" {
		switch strings.ToLower(v) {
		case "ja", "日本語":
			row.Locale = "ja"
		case "en", "英語":
			row.Locale = "en"
		default:
			return reject("unknown locale %q (ja or en)", v)
		}
	}
	loc := tz.Tokyo()
	if v := text(colTimezone); v != "" {
		if loc, err = r.zone(v); err != nil {
			return reject("%v", err)
		}
		row.Timezone = v
	}
	if row.FamilyName == "" && row.GivenName == "" {
		row.FamilyName, row.GivenName = splitName(text(colName), row.Locale)
	}
	for _, d := range []struct {
		col column
		dst **time.Time
	}{{colJoinedOn, &row.JoinedOn}, {colLeftOn, &row.LeftOn}} {
		v := text(d.col)
		if v == "" {
			continue
		}
		t, err := parseDate(v)
		if err != nil {
			return reject("%s: %v", h.columnName(h.index[d.col]), err)
		}
		*d.dst = &t
	}
	if row.JoinedOn != nil && row.LeftOn != nil && row.LeftOn.Before(*row.JoinedOn) {
		return reject("left_on %s is before joined_on %s", row.LeftOn.Format(time.DateOnly), row.JoinedOn.Format(time.DateOnly))
	}
	if v := text(colTags); v != "" {
		row.Tags = splitTags(v)
	}
	if v := text(colConsent); v != "" {
		var yes bool
		switch strings.ToLower(v) {
		case "yes", "はい":
			yes = true
		case "no", "いいえ":
		default:
			return reject("consent must be yes or no (はい or いいえ), not %q", v)
		}
		row.Consent = &yes
	}
	if v := text(colConsentedAt); v != "" {
		t, err := parseTime(v, loc)
		if err != nil {
			return reject("consented_at: %v", err)
		}
		if t.After(r.now.Add(24 * time.Hour)) {
			return reject("consented_at %s is in the future", v)
		}
		row.ConsentedAt = &t
	}
	return row, nil, nil
}

// badChar finds a character no roster field may hold: C0 and C1 controls
// (CR and LF above all: in a header they would inject lines), DEL, the
// Unicode line separators and the bidirectional overrides that can disguise
// an address or name.
func badChar(s string) (rune, bool) {
	for _, c := range s {
		switch {
		case c < 0x20, c >= 0x7F && c <= 0x9F,
			c == '\u2028', c == '\u2029',
			c >= '\u202A' && c <= '\u202E', c >= '\u2066' && c <= '\u2069',
			c == '\uFEFF':
			return c, true
		}
	}
	return 0, false
}

// checkEmail checks a roster's address and returns its stored form (see
// CanonicalEmail).
func checkEmail(raw string) (string, error) { return CanonicalEmail(raw) }

// zone loads an IANA time zone, caching it for the file.
func (r *Reader) zone(name string) (*time.Location, error) {
	if loc, ok := r.zones[name]; ok {
		return loc, nil
	}
	if name == "Local" || strings.ContainsAny(name, `\`) || strings.HasPrefix(name, "/") || strings.Contains(name, "..") {
		return nil, fmt.Errorf("unknown time zone %q (an IANA name like Asia/Tokyo)", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q (an IANA name like Asia/Tokyo)", name)
	}
	if len(r.zones) < maxZones {
		r.zones[name] = loc
	}
	return loc, nil
}

// splitName splits a one-column name at its first half- or full-width
// space: family name first, except in English rows (given name first). A
// name without a space is all family name.
func splitName(name, locale string) (family, given string) {
	i := strings.IndexAny(name, " \u3000")
	if i < 0 {
		return name, ""
	}
	_, size := utf8.DecodeRuneInString(name[i:])
	first, rest := name[:i], trimSpace(name[i+size:])
	if locale == "en" {
		return rest, first
	}
	return first, rest
}

// splitTags splits a tags cell at ";" (or the full-width "；"), trimming
// each tag and dropping empty and repeated ones.
func splitTags(v string) []string {
	tags := []string{}
	seen := map[string]bool{}
	for _, t := range strings.FieldsFunc(v, func(c rune) bool { return c == ';' || c == '；' }) {
		t = trimSpace(t)
		if t != "" && !seen[t] {
			seen[t] = true
			tags = append(tags, t)
		}
	}
	return tags
}

// toHalfWidth turns full-width digits and date punctuation into ASCII, as
// Japanese input methods often produce them.
var toHalfWidth = strings.NewReplacer(
	"０", "0", "１", "1", "２", "2", "３", "3", "４", "4",
	"５", "5", "６", "6", "７", "7", "８", "8", "９", "9",
	"／", "/", "－", "-", "：", ":", "　", " ",
)

// parseDate reads 2006-01-02, 2006/01/02 or 2006/1/2, with half- or
// full-width digits, as a date (midnight UTC).
func parseDate(v string) (time.Time, error) {
	s := toHalfWidth.Replace(v)
	for _, layout := range []string{"2006-01-02", "2006/1/2"} {
		if t, err := time.Parse(layout, s); err == nil {
			if t.Year() < 1900 || t.Year() > 2200 {
				return time.Time{}, fmt.Errorf("date %q is out of range", v)
			}
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("bad date %q (2006-01-02, 2006/01/02 or 2006/1/2)", clip(v, 40))
}

// parseTime reads a consent time: a date (midnight in loc, the row's time
// zone), a date and time as Excel writes it, or RFC 3339 as export writes it.
func parseTime(v string, loc *time.Location) (time.Time, error) {
	s := toHalfWidth.Replace(v)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02", "2006/1/2", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006/1/2 15:04:05", "2006/1/2 15:04"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			if t.Year() < 1900 || t.Year() > 2200 {
				return time.Time{}, fmt.Errorf("date %q is out of range", v)
			}
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("bad date %q (2006-01-02, 2006/1/2, optionally with 15:04, or RFC 3339)", clip(v, 40))
}

// formulaPrefixes start a cell Excel would evaluate as a formula.
const formulaPrefixes = "=+-@"

// escapeFormula protects a CSV cell from formula injection: a value that
// starts with = + - or @ gets a leading apostrophe, which Excel shows as
// text and does not display. So does a value whose apostrophes precede one
// of them ('=x becomes ”=x), so that unescapeFormula gives every value back
// as it was.
func escapeFormula(v string) string {
	if formulaAfterApostrophes(v) {
		return "'" + v
	}
	return v
}

// unescapeFormula undoes escapeFormula on import, so that an exported file
// re-imports to the same values: one leading apostrophe goes when only
// apostrophes stand between it and = + - or @.
func unescapeFormula(v string) string {
	if v != "" && v[0] == '\'' && formulaAfterApostrophes(v) {
		return v[1:]
	}
	return v
}

// formulaAfterApostrophes reports whether v, after any leading apostrophes,
// starts with a formula prefix.
func formulaAfterApostrophes(v string) bool {
	rest := strings.TrimLeft(v, "'")
	return rest != "" && strings.IndexByte(formulaPrefixes, rest[0]) >= 0
}
