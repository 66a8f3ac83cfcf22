package render_test

import (
	"testing"

	"github.com/kizuna-alumni/kizuna/internal/render"
	"github.com/kizuna-alumni/kizuna/internal/runs"
)

// The worker renders a delivery with runs.Claimed.Message() as
// render.Options.Notice: every notice of a notice run and every run kind
// but send must be a render notice of the same name, and a plain send the
// invitation.
func TestNoticeNamesMatchRuns(t *testing.T) {
	t.Parallel()
	known := map[string]bool{}
	for _, n := range render.Notices {
		known[n] = true
	}
	for _, n := range runs.Notices {
		if !known[n] {
			t.Errorf("runs notice %q has no render notice", n)
		}
	}
	for _, k := range runs.RunKinds {
		switch k {
		case runs.KindSend:
			if m := (runs.Claimed{RunKind: k}).Message(); m != render.NoticeInvitation {
				t.Errorf("a send renders %q, want the invitation", m)
			}
		case runs.KindNotice:
		default:
			if m := (runs.Claimed{RunKind: k}).Message(); !known[m] {
				t.Errorf("a %s run renders %q, which render does not know", k, m)
			}
		}
	}
	pairs := map[string]string{
		render.NoticeReminder: runs.KindReminder, render.NoticeUpdate: runs.KindUpdate, render.NoticeCancellation: runs.KindCancellation,
		render.NoticeConfirmYes: runs.NoticeConfirmYes, render.NoticeConfirmNo: runs.NoticeConfirmNo, render.NoticeConfirmMaybe: runs.NoticeConfirmMaybe,
		render.NoticeWaitlisted: runs.NoticeWaitlisted, render.NoticePromoted: runs.NoticePromoted,
	}
	for r, s := range pairs {
		if r != s {
			t.Errorf("render %q != runs %q", r, s)
		}
	}
}
