package classify

import "strings"

// report is what a feedback report says about the message it returns.
type report struct {
	OriginalMessageID string
	OriginalTo        []string
}

// isFeedback says whether a multipart/report is a feedback report (RFC
// 5965 §2: report-type=feedback-report, or, in reports whose parameter is
// missing, a message/feedback-report part).
func isFeedback(root *part) bool {
	if root.mediaType != "multipart/report" {
		return false
	}
	if strings.EqualFold(root.params["report-type"], "feedback-report") {
		return true
	}
	for _, c := range root.parts {
		if c.mediaType == "message/feedback-report" {
			return true
		}
	}
	return false
}

// feedbackReport reads an ARF report (RFC 5965 §3): the complainant from
// Original-Rcpt-To of the message/feedback-report part, and the returned
// message (message/rfc822 or text/rfc822-headers, §2 (c)) for its
// Message-ID and its To and X-Original-To. Providers redact some of
// these; what is left is kept.
func feedbackReport(root *part) (report, bool) {
	if !isFeedback(root) {
		return report{}, false
	}
	var r report
	seen := map[string]bool{}
	add := func(addrs []string) {
		for _, a := range addrs {
			if !seen[a] {
				seen[a] = true
				r.OriginalTo = append(r.OriginalTo, a)
			}
		}
	}
	for _, c := range root.parts {
		switch {
		case c.mediaType == "message/feedback-report":
			fields := readHeader(append(c.decoded(), '\n'))
			for _, v := range fields.Values("Original-Rcpt-To") {
				add(addressList(utf8Field(v)))
			}
		case c.inner != nil && r.OriginalMessageID == "":
			h := c.inner.header
			r.OriginalMessageID = firstID(field(h, "Message-Id"))
			for _, k := range []string{"To", "X-Original-To"} {
				for _, v := range h.Values(k) {
					add(addressList(utf8Field(v)))
				}
			}
		}
	}
	return r, true
}
