package flows

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"linli/bot"
	"linli/store"
)

var statsTexts = catalog{
	"stats.title":          {"近 30 天工单统计（%s 至 %s）", "Tickets of the last 30 days (%s to %s)"},
	"stats.none":           {"近 30 天没有工单。", "No tickets in the last 30 days."},
	"stats.total":          {"共 %d 个", "%d in all"},
	"stats.by_status":      {"按状态：%s", "By status: %s"},
	"stats.by_category":    {"按类别：%s", "By category: %s"},
	"stats.item":           {"%s %d", "%s %d"},
	"stats.first_response": {"首次响应中位时长：%s（%d 个）", "Median time to first response: %s (%d tickets)"},
	"stats.resolution":     {"办结中位时长：%s（%d 个）", "Median time to resolution: %s (%d tickets)"},
	"stats.within_target":  {"按时响应：%s（%d/%d）", "Answered within target: %s (%d/%d)"},
	"stats.satisfaction":   {"满意率（4–5 分）：%s（%d 个评价）", "Satisfaction (ratings 4–5): %s (%d ratings)"},
	"stats.na":             {"暂无", "n/a"},
}

// statsWindow is the period /stats looks at.
const statsWindow = 30 * 24 * time.Hour

// TicketStats are the desk's figures for tickets created in a period.
type TicketStats struct {
	Total      int
	ByStatus   map[string]int
	ByCategory map[string]int
	// FirstResponse and Resolution are the times from report to the first
	// staff response (claim, answer or resolution) and to resolution.
	FirstResponse []time.Duration
	Resolution    []time.Duration
	// WithinTarget of TargetKnown tickets were answered by their deadline;
	// known are those answered, and those whose deadline passed unanswered.
	WithinTarget, TargetKnown int
	// Satisfied of Ratings residents rated 4 or 5.
	Satisfied, Ratings int
}

// computeStats works the figures out of the tickets; cancelled tickets are
// counted but not timed.
func computeStats(ts []store.Ticket, now time.Time) TicketStats {
	s := TicketStats{ByStatus: map[string]int{}, ByCategory: map[string]int{}}
	for _, t := range ts {
		s.Total++
		s.ByStatus[t.Status]++
		s.ByCategory[t.Category]++
		if t.Status == store.TicketCancelled {
			continue
		}
		switch {
		case !t.FirstResponseAt.IsZero():
			s.FirstResponse = append(s.FirstResponse, t.FirstResponseAt.Sub(t.CreatedAt))
			s.TargetKnown++
			if !t.FirstResponseAt.After(t.DueAt) {
				s.WithinTarget++
			}
		case now.After(t.DueAt):
			s.TargetKnown++
		}
		if t.Status == store.TicketResolved && !t.ResolvedAt.IsZero() {
			s.Resolution = append(s.Resolution, t.ResolvedAt.Sub(t.CreatedAt))
		}
		if t.Rating > 0 {
			s.Ratings++
			if t.Rating >= 4 {
				s.Satisfied++
			}
		}
	}
	return s
}

// median of durations; ok is false for none.
func median(ds []time.Duration) (time.Duration, bool) {
	if len(ds) == 0 {
		return 0, false
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2], true
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2, true
}

func percent(n, of int) string {
	return fmt.Sprintf("%.0f%%", 100*float64(n)/float64(of))
}

func (e *Engine) cmdStats(c *Ctx, _ StaffMember, _ string) []bot.Reply {
	now := e.now()
	since := now.Add(-statsWindow)
	ts, err := e.st.TicketsCreatedSince(c, since)
	if err != nil {
		e.log.Error("stats: tickets", "err", err)
		return Unavailable(c.Lang)
	}
	ls := []string{c.T("stats.title", since.In(e.loc).Format("2006-01-02"), now.In(e.loc).Format("2006-01-02"))}
	if len(ts) == 0 {
		ls = append(ls, c.T("stats.none"))
	} else {
		ls = append(ls, e.ticketStatsLines(c, computeStats(ts, now))...)
	}
	for _, section := range e.statsSections {
		more, err := section(c, since)
		if err != nil {
			e.log.Error("stats: section", "err", err)
			continue
		}
		ls = append(ls, more...)
	}
	return []bot.Reply{{Text: strings.Join(ls, "\n")}}
}

func (e *Engine) ticketStatsLines(c *Ctx, s TicketStats) []string {
	var statuses []string
	for _, st := range []string{store.TicketOpen, store.TicketClaimed, store.TicketResolved, store.TicketCancelled} {
		if n := s.ByStatus[st]; n > 0 {
			statuses = append(statuses, c.T("stats.item", c.T("status."+st), n))
		}
	}
	var cats []string
	seen := map[string]bool{}
	for _, cat := range e.cfg.Categories {
		seen[cat.Key] = true
		if n := s.ByCategory[cat.Key]; n > 0 {
			cats = append(cats, c.T("stats.item", pick(c.Lang, cat.Name, cat.NameEN), n))
		}
	}
	var other []string
	for k := range s.ByCategory {
		if !seen[k] {
			other = append(other, k)
		}
	}
	sort.Strings(other)
	for _, k := range other {
		cats = append(cats, c.T("stats.item", k, s.ByCategory[k]))
	}
	sep := "，"
	if c.Lang == bot.LangEN {
		sep = ", "
	}
	na := c.T("stats.na")
	first, resolution, within, satisfaction := na, na, na, na
	if d, ok := median(s.FirstResponse); ok {
		first = fmtDuration(c.Lang, d)
	}
	if d, ok := median(s.Resolution); ok {
		resolution = fmtDuration(c.Lang, d)
	}
	if s.TargetKnown > 0 {
		within = percent(s.WithinTarget, s.TargetKnown)
	}
	if s.Ratings > 0 {
		satisfaction = percent(s.Satisfied, s.Ratings)
	}
	return []string{
		c.T("stats.total", s.Total),
		c.T("stats.by_status", strings.Join(statuses, sep)),
		c.T("stats.by_category", strings.Join(cats, sep)),
		c.T("stats.first_response", first, len(s.FirstResponse)),
		c.T("stats.resolution", resolution, len(s.Resolution)),
		c.T("stats.within_target", within, s.WithinTarget, s.TargetKnown),
		c.T("stats.satisfaction", satisfaction, s.Ratings),
	}
}
