package ratelimit

import (
	"strings"
	"time"
)

// DefaultCarrierPerMinute is the built-in per-minute limit for Japanese
// mobile carrier domains. No carrier publishes a number; docomo, au (KDDI)
// and SoftBank all ask bulk senders to send slowly, over few and short
// sessions, and block source networks that send in bursts
// (research/domain.md §3, from the carriers' mass-sending notices). 30 a
// minute (1,800 an hour) is a conservative start; throttle.domains in
// kizuna.yaml or a campaign overrides it.
const DefaultCarrierPerMinute = 30

// CarrierDomains are the Japanese mobile carrier mail domains with built-in
// limits: NTT docomo, KDDI au (ezweb.ne.jp, and au.com since 2018), SoftBank
// (feature phones and Android) and SoftBank iPhone.
func CarrierDomains() []string {
	return []string{"docomo.ne.jp", "ezweb.ne.jp", "au.com", "softbank.ne.jp", "i.softbank.jp"}
}

// DomainOf returns the lower-cased domain of an email address ("" when
// there is none). It takes the part after the last "@", so quoted local
// parts holding "@" do not confuse it.
func DomainOf(email string) string {
	i := strings.LastIndexByte(email, '@')
	if i < 0 {
		return ""
	}
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(email[i+1:])), ".")
}

// DomainLimit finds the per-minute limit for a recipient domain: overrides
// (throttle.domains) first, then the carrier defaults. A subdomain shares
// its parent's limit (old addresses such as x.vodafone.ne.jp or
// sub.docomo.ne.jp go to the same carrier), so it returns the key domain the
// budget is counted under too. A limit of 0 means none; an override of 0
// or less switches a built-in limit off.
func DomainLimit(domain string, overrides map[string]int) (keyDomain string, perMinute int) {
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	for d := domain; d != ""; {
		if n, ok := lookup(overrides, d); ok {
			if n <= 0 {
				return "", 0
			}
			return d, n
		}
		for _, c := range CarrierDomains() {
			if c == d {
				return d, DefaultCarrierPerMinute
			}
		}
		_, parent, ok := strings.Cut(d, ".")
		if !ok {
			break
		}
		d = parent
	}
	return "", 0
}

// lookup finds d in m ignoring case (keys come from YAML as written).
func lookup(m map[string]int, d string) (int, bool) {
	if n, ok := m[d]; ok {
		return n, true
	}
	for k, n := range m {
		if strings.EqualFold(strings.TrimSuffix(k, "."), d) {
			return n, true
		}
	}
	return 0, false
}

// DomainLimitFor is the Limit for a recipient address, or a Limit with
// Count 0 (ignored by AllowAll) when its domain has none.
func DomainLimitFor(email string, overrides map[string]int) Limit {
	d, n := DomainLimit(DomainOf(email), overrides)
	if n <= 0 {
		return Limit{}
	}
	return Limit{Key: DomainKey(d), Count: n, Per: time.Minute}
}
