package flows

import (
	"fmt"
	"strings"
	"time"
)

// An offer of a freed place is held offerHold for the resident. Made in the
// evening after quiet hours began, it would run out (and pass down the
// waiting list, and out again) while everyone sleeps, so its clock starts
// when quiet hours end; it never runs past the start of what is offered
// (the store caps it).

// offerUntil is when an offer made at t runs out (a store.OfferHold).
func (e *Engine) offerUntil(t time.Time) time.Time {
	if end, in := e.quietUntil(t); in {
		t = end
	}
	return t.Add(offerHold)
}

// quietUntil reports whether t falls in quiet hours (community time) and,
// if so, when they end.
func (e *Engine) quietUntil(t time.Time) (time.Time, bool) {
	from, to, err := parseQuietHours(e.cfg.QuietHours)
	if err != nil || from == to {
		return time.Time{}, false
	}
	lt := t.In(e.loc)
	y, mo, d := lt.Date()
	m := lt.Hour()*60 + lt.Minute()
	end := func(days int) time.Time { return time.Date(y, mo, d+days, to/60, to%60, 0, 0, e.loc) }
	switch {
	case from < to && m >= from && m < to: // e.g. 12:00-14:00
		return end(0), true
	case from > to && m >= from: // across midnight, e.g. 21:00-08:00
		return end(1), true
	case from > to && m < to:
		return end(0), true
	}
	return time.Time{}, false
}

// parseQuietHours reads "21:00-08:00" into minutes after midnight; ""
// means none (from == to).
func parseQuietHours(s string) (from, to int, err error) {
	if strings.TrimSpace(s) == "" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(s, "-")
	fh, fm, ok1 := parseClock(strings.TrimSpace(a))
	th, tm, ok2 := parseClock(strings.TrimSpace(b))
	if !ok || !ok1 || !ok2 {
		return 0, 0, fmt.Errorf("flows: quiet hours %q: want HH:MM-HH:MM", s)
	}
	return fh*60 + fm, th*60 + tm, nil
}
