package flows

import (
	"context"

	"linli/store"
)

// When an event of the config is edited (a new time, place or title), the
// reminders already queued for its registrants would go out at the old
// time with the old details. They are withdrawn and queued afresh, and
// everyone registered, waiting or offered a place is told of the change.
// Staff have no command that edits an event; if one is added it should
// call eventChanged too.

var eventChangeTexts = catalog{
	"event.changed": {"活动变更：您报名的“%s”改为 %s 开始，地点：%s。编号 %s。如不能参加，请发送“取消”。", "Change of plan: “%s”, which you registered for, now starts %s, at %s. Number %s. If you cannot come, send “cancel”."},
}

// eventChanged compares an event before and after an edit and, when what
// residents were told has changed, moves the reminders and tells them.
func (e *Engine) eventChanged(ctx context.Context, old, ev store.Event) {
	if old.StartsAt.Equal(ev.StartsAt) && old.Place == ev.Place && old.Title == ev.Title && old.TitleEN == ev.TitleEN {
		return
	}
	if !ev.CancelledAt.IsZero() || !ev.StartsAt.After(e.now()) {
		return
	}
	roster, err := e.st.Roster(ctx, ev.ID)
	if err != nil {
		e.log.Error("event change: roster", "event", ev.ID, "err", err)
		return
	}
	for _, r := range roster {
		if r.ResidentID == 0 {
			continue
		}
		lang := e.residentLangByID(ctx, r.ResidentID)
		p := placeInfo{code: r.Code, name: e.eventTitle(lang, ev), place: ev.Place, start: ev.StartsAt, end: ev.EndsAt}
		var rows []store.OutboxRow
		if r.Status == store.PlaceConfirmed {
			// Withdraws the old reminders (and an unsent earlier notice of
			// a change); offers and their lapse notices are left alone.
			e.withdrawReminders(ctx, r.ResidentID, r.Code)
			rows = e.reminderRows(r.ResidentID, lang, p)
		}
		when := e.fmtWhen(lang, ev.StartsAt)
		rows = append(rows, store.OutboxRow{
			Kind: kindReminder, ResidentID: r.ResidentID, Ref: r.Code, DedupeKey: "event-change:" + r.Code + ":" + p.version(), DueAt: e.now(),
			Body: store.OutboxBody{
				Text: T(lang, "event.changed", p.name, when, p.place, r.Code), Lang: lang, Template: "reminder",
				Params: map[string]string{"name": p.name, "time": when, "place": p.place},
			},
		})
		e.enqueue(ctx, rows...)
	}
}
