package webchat

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// devRow is one outbox row as /dev/outbox shows it.
type devRow struct {
	ID        int64
	Created   string
	Sent      string
	Kind      string
	Channel   string
	Recipient string
	Text      string
	Template  string
	Params    []string
	Status    string
	Error     string
	Ref       string
}

// devOutbox lists what the outbox produced, newest first, so that someone
// trying linli without credentials sees the SMS (verification codes,
// reminders, surveys) and pushes it would have sent. html/template escapes
// every field: residents and staff wrote much of it.
func (s *Server) devOutbox(w http.ResponseWriter, r *http.Request) {
	rows, err := s.st.RecentOutbox(r.Context(), 200)
	if err != nil {
		s.log.Error("webchat: dev outbox", "err", err)
		http.Error(w, "unavailable", http.StatusInternalServerError)
		return
	}
	phones := map[int64]string{}
	out := make([]devRow, 0, len(rows))
	for _, row := range rows {
		d := devRow{ID: row.ID, Kind: row.Kind, Channel: row.Channel, Text: row.Body.Text, Template: row.Body.Template,
			Status: row.Status, Error: row.Error, Ref: row.Ref, Created: s.clock(row.CreatedAt), Sent: s.clock(row.SentAt)}
		if d.Channel == "" {
			d.Channel = row.TargetChannel
		}
		keys := make([]string, 0, len(row.Body.Params))
		for k := range row.Body.Params {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			d.Params = append(d.Params, k+"="+row.Body.Params[k])
		}
		switch {
		case d.Channel == "sms" && row.TargetChannel == "sms" && row.TargetAddress != "":
			d.Recipient = maskPhone(row.TargetAddress)
		case d.Channel == "sms" && row.ResidentID != 0:
			p, ok := phones[row.ResidentID]
			if !ok {
				if res, err := s.st.Resident(r.Context(), row.ResidentID); err == nil {
					p = res.Phone
				}
				phones[row.ResidentID] = p
			}
			d.Recipient = maskPhone(p)
		case row.TargetAddress != "":
			d.Recipient = maskID(row.TargetAddress)
		case row.ResidentID != 0:
			d.Recipient = "resident #" + strconv.FormatInt(row.ResidentID, 10)
		}
		out = append(out, d)
	}
	securityHeaders(w.Header(), "default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := s.dev.Execute(w, map[string]any{"Rows": out, "Title": s.opt.Title}); err != nil {
		s.log.Warn("webchat: render dev outbox", "err", err)
	}
}

// clock shows a time in the community's zone.
func (s *Server) clock(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(s.opt.Location).Format("01-02 15:04:05")
}

// maskPhone hides the middle of a phone number: 138****5678.
func maskPhone(p string) string {
	if p == "" {
		return ""
	}
	if len(p) < 7 {
		return strings.Repeat("*", len(p))
	}
	return p[:3] + strings.Repeat("*", len(p)-7) + p[len(p)-4:]
}

// maskID shortens a channel address (openid, chat id, web identity) to
// enough to tell rows apart.
func maskID(id string) string {
	if utf8.RuneCountInString(id) <= 6 {
		return id
	}
	r := []rune(id)
	return string(r[:3]) + "…" + string(r[len(r)-3:])
}
