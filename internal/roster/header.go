package roster

import (
	"fmt"
	"strings"
)

// column identifies a roster column whatever language its header is in.
type column int

const (
	colNone column = iota
	colEmail
	colFamilyName
	colGivenName
	colName
	colFamilyNameKana
	colGivenNameKana
	colEmployeeID
	colDepartment
	colJoinedOn
	colLeftOn
	colLocale
	colTimezone
	colTags
	colConsent
	colConsentedAt
	colConsentSource
	// colStatus is written by export and read back silently: status only
	// changes through unsubscribe, resubscribe and forget, never by import.
	colStatus
	numColumns
)

// Columns lists the English header names in export order (SPEC.md, Roster),
// without the status column export appends.
var Columns = []string{
	"email", "family_name", "given_name", "family_name_kana", "given_name_kana",
	"employee_id", "department", "joined_on", "left_on", "locale", "timezone",
	"tags", "consent", "consented_at", "consent_source",
}

// headerNames maps each accepted header (English lower-cased, or Japanese)
// to its column.
var headerNames = map[string]column{
	"email": colEmail, "メールアドレス": colEmail,
	"family_name": colFamilyName, "姓": colFamilyName,
	"given_name": colGivenName, "名": colGivenName,
	"name": colName, "氏名": colName,
	"family_name_kana": colFamilyNameKana, "セイ": colFamilyNameKana,
	"given_name_kana": colGivenNameKana, "メイ": colGivenNameKana,
	"employee_id": colEmployeeID, "社員番号": colEmployeeID,
	"department": colDepartment, "部署": colDepartment,
	"joined_on": colJoinedOn, "入社日": colJoinedOn,
	"left_on": colLeftOn, "退職日": colLeftOn,
	"locale": colLocale, "言語": colLocale,
	"timezone": colTimezone, "タイムゾーン": colTimezone,
	"tags": colTags, "タグ": colTags,
	"consent": colConsent, "同意": colConsent,
	"consented_at": colConsentedAt, "同意日": colConsentedAt,
	"consent_source": colConsentSource, "同意取得方法": colConsentSource,
	"status": colStatus, "ステータス": colStatus,
}

// header is the column layout of one file: for each roster column, the
// index of the field holding it (-1 when absent).
type header struct {
	index    [numColumns]int
	names    []string // English name of each field's column, for messages
	warnings []Warning
}

// Warning is a problem with the file that does not stop the import.
type Warning struct {
	Line    int
	Message string
}

// parseHeader maps line 1 of the file. The file must at least name the
// email column; a header naming the same column twice is refused, since
// which of the two to trust cannot be guessed.
func parseHeader(rec *record) (*header, error) {
	h := &header{}
	for i := range h.index {
		h.index[i] = -1
	}
	if rec.err != "" {
		return nil, fmt.Errorf("%w: line %d (header): %s", ErrNotRoster, rec.line, rec.err)
	}
	for i, raw := range rec.fields {
		name := strings.ToLower(trimSpace(raw))
		col, ok := headerNames[name]
		if !ok {
			if name != "" {
				h.warnings = append(h.warnings, Warning{Line: rec.line, Message: fmt.Sprintf("unknown column %q (column %d) ignored", clip(trimSpace(raw), 40), i+1)})
			}
			continue
		}
		if prev := h.index[col]; prev >= 0 {
			return nil, fmt.Errorf("%w: line %d: column %q appears twice (columns %d and %d)", ErrNotRoster, rec.line, name, prev+1, i+1)
		}
		h.index[col] = i
	}
	english := map[column]string{}
	for n, c := range headerNames {
		if n[0] < 0x80 {
			english[c] = n
		}
	}
	h.names = make([]string, len(rec.fields))
	for i := range h.names {
		h.names[i] = fmt.Sprintf("column %d", i+1)
	}
	for col, i := range h.index {
		if i >= 0 {
			h.names[i] = english[column(col)]
		}
	}
	if h.index[colEmail] < 0 {
		found := make([]string, 0, 5)
		for _, f := range rec.fields[:min(len(rec.fields), 5)] {
			found = append(found, fmt.Sprintf("%q", clip(f, 20)))
		}
		return nil, fmt.Errorf("%w: line %d has no email column (email or メールアドレス); the header found starts %s",
			ErrNotRoster, rec.line, strings.Join(found, ", "))
	}
	return h, nil
}

// columnName names field i of the file for a message: the roster column it
// holds, or its position.
func (h *header) columnName(i int) string {
	if i < len(h.names) {
		return h.names[i]
	}
	return fmt.Sprintf("column %d", i+1)
}

// field returns the trimmed value of col in rec ("" when the file has no
// such column or the row is short), and whether it was cut for length.
func (h *header) field(rec *record, col column) (string, bool) {
	i := h.index[col]
	if i < 0 || i >= len(rec.fields) {
		return "", false
	}
	return unescapeFormula(trimSpace(rec.fields[i])), rec.long[i]
}

// trimSpace trims ASCII and full-width (U+3000) spaces, which Excel users
// leave around values.
func trimSpace(s string) string {
	return strings.Trim(s, " \u3000")
}

// clip shortens s for an error message.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
