package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/cobra"
	"golang.org/x/text/width"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/roster"
	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/store"
	"github.com/kizuna-alumni/kizuna/internal/tz"
)

// attendeeColumns are the CSV header of `campaign attendees --csv` and the
// keys of each object of its --json array, in order.
var attendeeColumns = []string{
	"family_name", "given_name", "family_name_kana", "given_name_kana", "department", "email",
	"answer", "answered_at", "waitlist_position",
}

// attendeeJSON is one element of `campaign attendees --json`.
type attendeeJSON struct {
	FamilyName     string `json:"family_name"`
	GivenName      string `json:"given_name"`
	FamilyNameKana string `json:"family_name_kana"`
	GivenNameKana  string `json:"given_name_kana"`
	Department     string `json:"department"`
	Email          string `json:"email"`
	Answer         string `json:"answer"`      // yes | no | maybe (a waitlisted person answered yes)
	AnsweredAt     string `json:"answered_at"` // RFC 3339 UTC, like every time in Kizuna's JSON
	// WaitlistPosition is the 1-based place on the waiting list; null
	// when the person is not on it.
	WaitlistPosition *int `json:"waitlist_position"`
}

func (a *App) campaignAttendeesCommand() *cobra.Command {
	var asCSV, asJSON bool
	cmd := &cobra.Command{
		Use:   "attendees ID",
		Short: "List an event's answers for the reception desk (a table, CSV for Excel, or JSON)",
		Long: `List the answers to event campaign ID: the guests first, then the waiting
list in its order, then maybe, then no; within each group by kana, then name.
Each row has the name, its kana, the department at leaving, the address, the
answer, when it was last changed and the place on the waiting list.
Forgotten people are left out (` + "`campaign status`" + ` still counts their answers).

Without a flag: a table for the terminal with a summary line (出席, キャンセル待ち,
未定, 欠席, and the capacity when the event has one), times in the event's zone
(the UTC offset of its starts_at).

--csv: CSV for Excel: UTF-8 with a BOM, CRLF line ends, the header
` + strings.Join(attendeeColumns, ",") + `;
answer is yes, no or maybe (a person on the waiting list answered yes and has
a waitlist_position; the column is empty for everyone else); answered_at is
RFC 3339 in the event's zone. A cell starting with = + - or @ gets a leading
apostrophe so that Excel shows it as text.

--json: an array of objects with those keys; answered_at in RFC 3339 UTC,
waitlist_position null when not waitlisted; {"error": "..."} when the command
fails.

An unknown ID, or a campaign that is not an event, exits 2.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if asCSV && asJSON {
				return a.failJSON(asJSON, usageErr("--csv and --json exclude each other"))
			}
			ev, list, err := a.attendees(cmd.Context(), args[0])
			if err != nil {
				return a.failJSON(asJSON, err)
			}
			zone := eventZone(ev)
			switch {
			case asJSON:
				return a.writeJSON(attendeesJSON(list))
			case asCSV:
				return writeAttendeesCSV(a.Stdout, list, zone)
			}
			return a.printAttendees(args[0], ev, list, zone)
		},
	}
	cmd.Flags().BoolVar(&asCSV, "csv", false, "write CSV for Excel (UTF-8 with BOM, CRLF)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

// attendees checks that id is a known event campaign and returns its
// current event details and its answers (runs.Attendees).
func (a *App) attendees(ctx context.Context, id string) (*campaigns.Event, []runs.Attendee, error) {
	db, err := a.knownCampaign(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	vid, ok, err := latestVersion(ctx, db, id)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, unknownCampaign(id)
	}
	c, err := runs.LoadVersion(ctx, db, vid)
	if err != nil {
		return nil, nil, err
	}
	if c.Kind != campaigns.KindEvent || c.Event == nil {
		return nil, nil, usageErr("campaign %s is not an event", id)
	}
	list, err := runs.Attendees(ctx, db, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, unknownCampaign(id)
	}
	if err != nil {
		return nil, nil, err
	}
	return c.Event, list, nil
}

// eventZone is the zone the event's times were written in (the UTC offset
// of starts_at in the campaign file), or Asia/Tokyo when it has none.
func eventZone(ev *campaigns.Event) *time.Location {
	if ev == nil || ev.StartsAt.IsZero() {
		return tz.Tokyo()
	}
	return ev.StartsAt.Location()
}

func attendeesJSON(list []runs.Attendee) []attendeeJSON {
	out := make([]attendeeJSON, 0, len(list))
	for _, p := range list {
		e := attendeeJSON{
			FamilyName: p.FamilyName, GivenName: p.GivenName,
			FamilyNameKana: p.FamilyNameKana, GivenNameKana: p.GivenNameKana,
			Department: p.Department, Email: p.Email, Answer: p.Answer,
			AnsweredAt: p.AnsweredAt.UTC().Format(time.RFC3339),
		}
		if p.Waitlisted {
			pos := p.Position
			e.WaitlistPosition = &pos
		}
		out = append(out, e)
	}
	return out
}

// writeAttendeesCSV writes list as CSV that Excel opens (UTF-8 with BOM,
// CRLF line ends, RFC 4180 quoting by encoding/csv), the header row first,
// answered_at in zone.
func writeAttendeesCSV(w io.Writer, list []runs.Attendee, zone *time.Location) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("\uFEFF")
	cw := csv.NewWriter(bw)
	cw.UseCRLF = true
	cw.Write(attendeeColumns)
	for _, p := range list {
		pos := ""
		if p.Waitlisted {
			pos = strconv.Itoa(p.Position)
		}
		cells := []string{p.FamilyName, p.GivenName, p.FamilyNameKana, p.GivenNameKana, p.Department, p.Email, p.Answer}
		for i, v := range cells {
			cells[i] = roster.EscapeFormula(v)
		}
		cw.Write(append(cells, p.AnsweredAt.In(zone).Format(time.RFC3339), pos))
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	return bw.Flush()
}

// attendeeCounts is the summary line's figures.
type attendeeCounts struct{ yes, waitlisted, maybe, no int }

func countAttendees(list []runs.Attendee) attendeeCounts {
	var c attendeeCounts
	for _, p := range list {
		switch {
		case p.Answer == "yes" && p.Waitlisted:
			c.waitlisted++
		case p.Answer == "yes":
			c.yes++
		case p.Answer == "maybe":
			c.maybe++
		default:
			c.no++
		}
	}
	return c
}

// answerLabel is the table's answer cell: 出席, キャンセル待ち N, 未定, 欠席.
func answerLabel(p runs.Attendee) string {
	switch {
	case p.Answer == "yes" && p.Waitlisted:
		return "キャンセル待ち " + strconv.Itoa(p.Position)
	case p.Answer == "yes":
		return "出席"
	case p.Answer == "maybe":
		return "未定"
	}
	return "欠席"
}

// printAttendees writes the table for the terminal: the event, the summary
// line, then one row per answer, columns aligned by display width.
func (a *App) printAttendees(id string, ev *campaigns.Event, list []runs.Attendee, zone *time.Location) error {
	title := id
	if t := oneLine(ev.Title); t != "" {
		title = t + " (" + id + ")"
	}
	if !ev.StartsAt.IsZero() {
		title += "  " + ev.StartsAt.In(zone).Format("2006-01-02 15:04 -07:00")
	}
	c := countAttendees(list)
	summary := fmt.Sprintf("出席 %d / キャンセル待ち %d / 未定 %d / 欠席 %d", c.yes, c.waitlisted, c.maybe, c.no)
	if ev.Capacity > 0 {
		summary += fmt.Sprintf("（定員 %d）", ev.Capacity)
	}
	w := bufio.NewWriter(a.Stdout)
	fmt.Fprintf(w, "%s\n%s\n", title, summary)
	if len(list) == 0 {
		fmt.Fprintln(w, "\nまだ回答はありません。")
		return w.Flush()
	}
	rows := [][]string{{"回答", "氏名", "フリガナ", "部署", "回答日時", "メール"}}
	for _, p := range list {
		rows = append(rows, []string{
			answerLabel(p),
			oneLine(p.FamilyName + " " + p.GivenName),
			oneLine(p.FamilyNameKana + " " + p.GivenNameKana),
			oneLine(p.Department),
			p.AnsweredAt.In(zone).Format("2006-01-02 15:04"),
			oneLine(p.Email),
		})
	}
	fmt.Fprintln(w)
	writeAligned(w, rows)
	return w.Flush()
}

// writeAligned writes rows as columns two spaces apart, each padded to its
// widest cell in terminal columns (displayWidth), the last one unpadded.
func writeAligned(w io.Writer, rows [][]string) {
	var widths []int
	for _, r := range rows {
		for i, cell := range r {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], displayWidth(cell))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		for i, cell := range r {
			b.WriteString(cell)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-displayWidth(cell)+2))
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

// displayWidth is how many terminal columns s takes: two for East Asian
// wide and fullwidth characters (UAX #11: kanji, kana, fullwidth forms),
// none for combining and format characters, one for the rest (ambiguous
// ones included, as terminals outside CJK locales show them).
func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		switch {
		case unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf):
		default:
			switch width.LookupRune(r).Kind() {
			case width.EastAsianWide, width.EastAsianFullwidth:
				n += 2
			default:
				n++
			}
		}
	}
	return n
}
