package flows

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"linli/bot"
	"linli/store"
)

var eventStaffTexts = catalog{
	"flow.eventnew":          {"新建活动", "new event"},
	"evt.usage":              {"用法：/event 列出活动；/event new 新建；/event 编号 查看名单；/event 编号 csv 导出表格", "Usage: /event lists events; /event new creates one; /event ID shows its roster; /event ID csv exports it"},
	"evt.list_title":         {"活动（近 7 天及以后）：", "Events (the last 7 days and ahead):"},
	"evt.list_none":          {"近 7 天及以后没有活动。", "No events in the last 7 days or ahead."},
	"evt.list_line":          {"#%d %s %s · 已报名 %d/%d · 候补 %d", "#%d %s %s · %d/%d registered · %d waiting"},
	"evt.not_found":          {"没有编号为 %s 的活动。", "There is no event %s."},
	"evt.roster_head":        {"#%d %s（%s）\n%s · %s\n名额 %d · 已报名 %d 人（%d 份）· 待确认 %d · 候补 %d\n已签到 %d 人 + 同行 %d = %d 人次", "#%d %s (%s)\n%s · %s\nPlaces %d · %d people registered (%d registrations) · %d offered · %d waiting\nChecked in: %d + %d companions = %d person-times"},
	"evt.roster_title":       {"名单：", "Roster:"},
	"evt.roster_empty":       {"（暂无报名）", "(nobody yet)"},
	"evt.roster_line":        {"%d. %s %s %s%s", "%d. %s %s %s%s"},
	"evt.roster_in":          {" ✓%s", " ✓%s"},
	"evt.roster_offered":     {"待确认（名额保留中）：", "Offered (place held):"},
	"evt.roster_offer_line":  {"- %s %s（保留到 %s）", "- %s %s (until %s)"},
	"evt.roster_waiting":     {"候补：", "Waiting list:"},
	"evt.roster_wait_line":   {"%d. %s %s%s", "%d. %s %s%s"},
	"evt.roster_csv_hint":    {"发送 /event %d csv 获取表格。", "Send /event %d csv for a spreadsheet."},
	"evt.noname":             {"（未留名）", "(no name)"},
	"evt.csv_header":         {"序号,签到码,姓名,电话,同行人数,报名时间,签到时间,签到同行", "no,code,name,phone,companions,registered_at,checked_in_at,companions_checked_in"},
	"evt.form":               {"新建活动：请在私聊中发送 /event new 按步骤填写，或一次发送：\n/event new\n标题：消防安全培训\n类型：training\n开始：2026-12-20 19:00\n结束：21:00\n地点：社区活动室\n名额：50\n截止：2026-12-19 18:00\n同行：0\n说明：（可省略）", "New event: send /event new in a private chat to fill it in step by step, or send it at once:\n/event new\ntitle: Fire safety training\nkind: training\nstart: 2026-12-20 19:00\nend: 21:00\nplace: Activity room\ncapacity: 50\ndeadline: 2026-12-19 18:00\ncompanions: 0\ndescription: (optional)"},
	"evt.form_problems":      {"活动未创建，请修正：\n%s", "The event was not created; please fix:\n%s"},
	"evt.form_unknown":       {"不认识的项目“%s”", "unknown field “%s”"},
	"evt.form_missing":       {"缺少“%s”", "“%s” is missing"},
	"evt.created":            {"活动已创建：#%d %s，%s，%s，名额 %d，报名截止 %s。居民发送“活动”即可报名。", "Event created: #%d %s, %s, %s, %d places, registration closes %s. Residents send “events” to register."},
	"evt.f.title":            {"标题", "title"},
	"evt.f.kind":             {"类型", "kind"},
	"evt.f.start":            {"开始", "start"},
	"evt.f.end":              {"结束", "end"},
	"evt.f.place":            {"地点", "place"},
	"evt.f.capacity":         {"名额", "capacity"},
	"evt.f.deadline":         {"截止", "deadline"},
	"evt.f.companions":       {"同行", "companions"},
	"evt.f.description":      {"说明", "description"},
	"evt.ask.title":          {"新建活动。活动标题是？", "New event. What is its title?"},
	"evt.ask.kind":           {"活动类型？（用于统计目标，如 training 培训、show 演出、patrol 巡逻，或输入英文小写代号）", "What kind of event? (counted for targets: training, show, patrol, or type a lower-case key)"},
	"evt.ask.start":          {"开始时间？（如 2026-12-20 19:00）", "When does it start? (e.g. 2026-12-20 19:00)"},
	"evt.ask.end":            {"结束时间？（如 21:00 或 2026-12-20 21:00；不填请回复“跳过”）", "When does it end? (e.g. 21:00 or 2026-12-20 21:00; or “skip”)"},
	"evt.ask.place":          {"活动地点？", "Where is it?"},
	"evt.ask.capacity":       {"名额（含同行）？", "How many places (companions included)?"},
	"evt.ask.deadline":       {"报名截止时间？（如 2026-12-19 18:00；回复“跳过”则开始前均可报名）", "When does registration close? (e.g. 2026-12-19 18:00; “skip”: at the start)"},
	"evt.ask.companions":     {"每人最多可带几位同行？（0、1 或 2）", "How many companions may each resident bring? (0, 1 or 2)"},
	"evt.ask.description":    {"活动说明？（回复“跳过”可不填）", "A description? (or “skip”)"},
	"evt.bad.title":          {"标题需要 2 到 60 个字。", "The title needs 2 to 60 characters."},
	"evt.bad.kind":           {"类型请用英文小写字母、数字和下划线，如 training。", "The kind is lower-case letters, digits and _, such as training."},
	"evt.bad.time":           {"请按 2026-12-20 19:00 的格式输入将来的时间。", "Please give a future time as 2026-12-20 19:00."},
	"evt.bad.end":            {"结束时间需晚于开始时间（如 21:00）。", "The end must come after the start (e.g. 21:00)."},
	"evt.bad.place":          {"地点需要 1 到 60 个字。", "The place needs 1 to 60 characters."},
	"evt.bad.capacity":       {"名额请填 1 到 10000 的数字。", "Places must be a number from 1 to 10000."},
	"evt.bad.deadline":       {"截止时间需为将来的时间，且不晚于开始时间。", "The deadline must be in the future and not after the start."},
	"evt.bad.companions":     {"同行人数请填 0、1 或 2。", "Companions must be 0, 1 or 2."},
	"evt.bad.description":    {"说明最多 500 个字。", "The description can have up to 500 characters."},
	"evt.new_summary":        {"请确认新活动：\n标题：%s\n类型：%s\n时间：%s\n地点：%s\n名额：%d\n报名截止：%s\n同行：%d\n说明：%s", "Please check the new event:\nTitle: %s\nKind: %s\nTime: %s\nPlace: %s\nPlaces: %d\nRegistration closes: %s\nCompanions: %d\nDescription: %s"},
	"evt.new_create":         {"创建活动", "Create it"},
	"evt.new_edit":           {"返回修改", "Back to edit"},
	"evt.new_cancel":         {"取消", "Cancel"},
	"evt.new_expect":         {"请回复 1 创建，2 返回修改，3 取消。", "Please answer 1 to create, 2 to go back and edit, 3 to cancel."},
	"ci.usage":               {"用法：/checkin 签到码 [到场同行人数] [force]", "Usage: /checkin CODE [companions present] [force]"},
	"ci.not_now":             {"%s 不在签到时间：#%d %s 于 %s 开始，签到从开始前 2 小时到当天结束。确需签到请发送 /checkin %s force。", "%s is outside check-in time: #%d %s starts %s; check-in runs from 2 hours before the start to the end of that day. To check in anyway, send /checkin %s force."},
	"ci.done":                {"✓ 已签到：%s %s%s · #%d %s。本场已签到 %d 人次。", "✓ Checked in: %s %s%s · #%d %s. %d person-times so far."},
	"ci.plus":                {"（+%d 同行）", " (+%d)"},
	"ci.again":               {"%s 已于 %s 签到（%s），不重复计数。", "%s was already checked in at %s (by %s); not counted twice."},
	"ci.not_on_roster":       {"%s 不在名单上（%s）。", "%s is not on the roster (%s)."},
	"ci.unknown":             {"没有签到码 %s。", "There is no check-in code %s."},
	"today.title":            {"今天（%s）：", "Today (%s):"},
	"today.none":             {"今天没有预约和活动。", "No bookings or events today."},
	"today.bookings":         {"【预约】", "[Bookings]"},
	"today.booking_line":     {"%s %s %s %s", "%s %s %s %s"},
	"today.events":           {"【活动】", "[Events]"},
	"today.event_line":       {"%s #%d %s · 报名 %d 人 · 已签到 %d 人次", "%s #%d %s · %d registered · %d person-times checked in"},
	"stats.attendance":       {"【活动出勤】（%s 起）", "[Event attendance] (since %s)"},
	"stats.attendance_none":  {"（这段时间没有活动）", "(no events in this period)"},
	"stats.attendance_line":  {"%s：%d 场，%d 人次（签到 %d + 同行 %d）", "%s: %d events, %d person-times (%d checked in + %d companions)"},
	"stats.targets":          {"【工作目标】", "[Targets]"},
	"stats.target_line":      {"%s：%d / %d（%s），%s 至 %s，时间已过 %s", "%s: %d / %d (%s), %s to %s, %s of the time gone"},
	"kind.show":              {"文艺演出", "shows"},
	"kind.training":          {"培训", "training"},
	"kind.patrol":            {"巡逻", "patrols"},
	"kind.meeting":           {"会议", "meetings"},
	"kind.other":             {"其他", "other"},
	"kind.":                  {"未分类", "unclassified"},
	"staff.flow_not_allowed": {"只有工作人员可以新建活动。", "Only staff can create events."},
}

// addEventStaff installs /event, /checkin, /today and /stats, and the
// step-by-step staff flow that creates an event.
func (e *Engine) addEventStaff() {
	e.setStaffCommand(&staffCommand{name: "event", usage: "/event [new | ID [csv]]", run: e.cmdEvent})
	e.setStaffCommand(&staffCommand{name: "checkin", usage: "/checkin CODE [N] [force]", run: e.cmdCheckIn})
	e.setStaffCommand(&staffCommand{name: "today", usage: "/today", run: e.cmdToday})
	// The desk's /stats shows attendance by kind of event and the targets.
	e.statsSections = append(e.statsSections, func(c *Ctx, since time.Time) ([]string, error) {
		return e.eventStatsLines(c, since), nil
	})
	steps := map[string]*step{}
	for i, f := range eventFields {
		nextStep := "confirm"
		if i+1 < len(eventFields) {
			nextStep = "f_" + eventFields[i+1].key
		}
		steps["f_"+f.key] = e.staffStep(&step{ask: e.askEventField(f), handle: e.handleEventField(f, nextStep)})
	}
	steps["confirm"] = e.staffStep(&step{ask: e.askNewEventConfirm, handle: e.handleNewEventConfirm})
	e.addFlow(&flow{name: "eventnew", title: "flow.eventnew", start: "f_" + eventFields[0].key, staff: true, steps: steps})
}

// staffStep refuses a step to anyone not on the staff: the flow is started
// by /event new, but a flow name can also arrive as a deep-link payload.
func (e *Engine) staffStep(s *step) *step {
	ok := func(c *Ctx) bool {
		_, isStaff := e.cfg.staffByIdentity(c.Turn.Channel, c.Turn.UserID)
		return isStaff
	}
	return &step{
		ask: func(c *Ctx) []bot.Reply {
			if !ok(c) {
				*c.st = state{}
				return []bot.Reply{{Text: c.T("staff.flow_not_allowed")}}
			}
			return s.ask(c)
		},
		handle: func(c *Ctx) result {
			if !ok(c) {
				return done(bot.Reply{Text: c.T("staff.flow_not_allowed")})
			}
			return s.handle(c)
		},
	}
}

// eventField is one thing an event is made of, asked by the staff flow or
// given as "名称：值" in a one-message /event new.
type eventField struct {
	key      string
	optional bool
	// parse normalises a value, given the fields read so far; bad is the
	// catalog key of the problem.
	parse func(e *Engine, raw string, data map[string]string) (value, bad string)
}

var kindRe = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// kindWords map common Chinese names of event kinds to their keys.
var kindWords = map[string]string{"演出": "show", "晚会": "show", "文艺": "show", "培训": "training", "巡逻": "patrol", "会议": "meeting", "其他": "other"}

var eventFields = []eventField{
	{key: "title", parse: func(_ *Engine, raw string, _ map[string]string) (string, string) {
		if n := utf8.RuneCountInString(raw); n < 2 || n > 60 {
			return "", "evt.bad.title"
		}
		return raw, ""
	}},
	{key: "kind", parse: func(_ *Engine, raw string, _ map[string]string) (string, string) {
		k := strings.ToLower(strings.TrimSpace(raw))
		if v, ok := kindWords[k]; ok {
			k = v
		}
		if !kindRe.MatchString(k) {
			return "", "evt.bad.kind"
		}
		return k, ""
	}},
	{key: "start", parse: func(e *Engine, raw string, _ map[string]string) (string, string) {
		t, ok := e.parseEventTime(raw, time.Time{})
		if !ok || !t.After(e.now()) {
			return "", "evt.bad.time"
		}
		return itoa64(t.Unix()), ""
	}},
	{key: "end", optional: true, parse: func(e *Engine, raw string, data map[string]string) (string, string) {
		start := unixOf(data["start"])
		t, ok := e.parseEventTime(raw, start)
		if !ok || !t.After(start) {
			return "", "evt.bad.end"
		}
		return itoa64(t.Unix()), ""
	}},
	{key: "place", parse: func(_ *Engine, raw string, _ map[string]string) (string, string) {
		if n := utf8.RuneCountInString(raw); n < 1 || n > 60 {
			return "", "evt.bad.place"
		}
		return raw, ""
	}},
	{key: "capacity", parse: func(_ *Engine, raw string, _ map[string]string) (string, string) {
		n, err := strconv.Atoi(normalize(raw))
		if err != nil || n < 1 || n > 10000 {
			return "", "evt.bad.capacity"
		}
		return strconv.Itoa(n), ""
	}},
	{key: "deadline", optional: true, parse: func(e *Engine, raw string, data map[string]string) (string, string) {
		t, ok := e.parseEventTime(raw, time.Time{})
		if !ok || !t.After(e.now()) || t.After(unixOf(data["start"])) {
			return "", "evt.bad.deadline"
		}
		return itoa64(t.Unix()), ""
	}},
	{key: "companions", optional: true, parse: func(_ *Engine, raw string, _ map[string]string) (string, string) {
		n, err := strconv.Atoi(normalize(raw))
		if err != nil || n < 0 || n > 2 {
			return "", "evt.bad.companions"
		}
		return strconv.Itoa(n), ""
	}},
	{key: "description", optional: true, parse: func(_ *Engine, raw string, _ map[string]string) (string, string) {
		if utf8.RuneCountInString(raw) > 500 {
			return "", "evt.bad.description"
		}
		return raw, ""
	}},
}

func unixOf(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.Unix(n, 0)
}

// parseEventTime reads "2026-12-20 19:00" (also with / or full-width
// digits), "12-20 19:00" (this year, or next if that is past), or, when a
// day is given, "21:00" on that day; all in community time.
func (e *Engine) parseEventTime(raw string, day time.Time) (time.Time, bool) {
	s := strings.ReplaceAll(normalize(raw), "/", "-")
	s = strings.ReplaceAll(s, "：", ":")
	if t, err := time.ParseInLocation(eventTimeLayout, s, e.loc); err == nil {
		return t, true
	}
	if t, err := time.ParseInLocation("01-02 15:04", s, e.loc); err == nil {
		now := e.now().In(e.loc)
		t = time.Date(now.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), 0, 0, e.loc)
		if t.Before(now) {
			t = t.AddDate(1, 0, 0)
		}
		return t, true
	}
	if h, m, ok := parseClock(s); ok && !day.IsZero() && len(s) <= 5 {
		d := day.In(e.loc)
		return time.Date(d.Year(), d.Month(), d.Day(), h, m, 0, 0, e.loc), true
	}
	return time.Time{}, false
}

func (e *Engine) askEventField(f eventField) func(c *Ctx) []bot.Reply {
	return func(c *Ctx) []bot.Reply {
		r := bot.Reply{Text: c.T("evt.ask." + f.key)}
		switch {
		case f.key == "kind":
			for _, k := range e.eventKinds() {
				r.Choices = append(r.Choices, bot.Choice{Payload: k, Label: k})
			}
		case f.optional:
			r.Choices = []bot.Choice{{Payload: "skip", Label: c.T("word.skip")}}
		}
		return []bot.Reply{r}
	}
}

// eventKinds are the kinds offered as buttons: the targets' and the usual ones.
func (e *Engine) eventKinds() []string {
	kinds := []string{}
	seen := map[string]bool{}
	for _, t := range e.cfg.Targets {
		if t.EventKind != "" && !seen[t.EventKind] {
			seen[t.EventKind] = true
			kinds = append(kinds, t.EventKind)
		}
	}
	for _, k := range []string{"training", "show", "patrol", "other"} {
		if !seen[k] {
			seen[k] = true
			kinds = append(kinds, k)
		}
	}
	return kinds
}

func (e *Engine) handleEventField(f eventField, nextStep string) func(c *Ctx) result {
	return func(c *Ctx) result {
		if f.optional && (c.In.Payload == "skip" || is(c.In.Norm, wordsSkip)) {
			c.Set(f.key, "")
			return next(nextStep)
		}
		raw := c.In.Raw
		if f.key == "kind" && c.In.Payload != "" {
			raw = c.In.Payload
		} else if f.key == "kind" {
			if i, err := strconv.Atoi(c.In.Norm); err == nil && i >= 1 && i <= len(e.eventKinds()) {
				raw = e.eventKinds()[i-1]
			}
		}
		v, bad := f.parse(e, raw, c.st.Data)
		if bad != "" {
			return invalid(c.T(bad))
		}
		c.Set(f.key, v)
		return next(nextStep)
	}
}

// eventFromData builds the event the staff flow or form describes.
func (e *Engine) eventFromData(data map[string]string, by string) store.Event {
	ev := store.Event{Title: data["title"], Kind: data["kind"], StartsAt: unixOf(data["start"]), Place: data["place"],
		Description: data["description"], CreatedBy: by}
	ev.EndsAt = unixOf(data["end"])
	ev.Deadline = unixOf(data["deadline"])
	if ev.Deadline.IsZero() {
		ev.Deadline = ev.StartsAt
	}
	ev.Capacity, _ = strconv.Atoi(data["capacity"])
	ev.Companions, _ = strconv.Atoi(data["companions"])
	return ev
}

func (e *Engine) newEventOptions(c *Ctx) []option {
	return []option{
		{key: "create", label: c.T("evt.new_create"), words: wordsYes},
		{key: "edit", label: c.T("evt.new_edit")},
		{key: "cancel", label: c.T("evt.new_cancel")},
	}
}

func (e *Engine) askNewEventConfirm(c *Ctx) []bot.Reply {
	ev := e.eventFromData(c.st.Data, "")
	desc := ev.Description
	if desc == "" {
		desc = c.T("report.none")
	}
	text := c.T("evt.new_summary", ev.Title, ev.Kind, e.fmtSpan(c.Lang, ev.StartsAt, ev.EndsAt), ev.Place, ev.Capacity,
		e.fmtWhen(c.Lang, ev.Deadline), ev.Companions, desc)
	return []bot.Reply{ask(text, e.newEventOptions(c))}
}

func (e *Engine) handleNewEventConfirm(c *Ctx) result {
	o, ok := choose(c.In, e.newEventOptions(c))
	if !ok {
		return invalid(c.T("evt.new_expect"))
	}
	switch o.key {
	case "edit":
		return back()
	case "cancel":
		return cancelFlow()
	}
	who, _ := e.cfg.staffByIdentity(c.Turn.Channel, c.Turn.UserID)
	return done(e.createEvent(c, e.eventFromData(c.st.Data, who.Name))...)
}

func (e *Engine) createEvent(c *Ctx, ev store.Event) []bot.Reply {
	if !ev.StartsAt.After(e.now()) {
		return []bot.Reply{{Text: c.T("evt.bad.time")}}
	}
	created, err := e.st.CreateEvent(c, ev)
	if err != nil {
		e.log.Error("create event", "err", err)
		return Unavailable(c.Lang)
	}
	e.audit(c, store.AuditEntry{Actor: ev.CreatedBy, Action: "event.create", Target: "#" + itoa64(created.ID), Detail: clip(ev.Title, 100), Allowed: true, CreatedAt: e.now()})
	return []bot.Reply{{Text: c.T("evt.created", created.ID, created.Title, e.fmtSpan(c.Lang, created.StartsAt, created.EndsAt),
		created.Place, created.Capacity, e.fmtWhen(c.Lang, created.Deadline))}}
}

// parseEventForm reads "名称：值" lines of a one-message /event new.
func (e *Engine) parseEventForm(c *Ctx, text string) (map[string]string, []string) {
	names := map[string]string{}
	for _, f := range eventFields {
		k := "evt.f." + f.key
		t, _ := lookup(k)
		names[normalize(t.zh)], names[normalize(t.en)], names[f.key] = f.key, f.key, f.key
	}
	raw := map[string]string{}
	var problems []string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		i := strings.IndexAny(line, ":：")
		if i < 0 {
			problems = append(problems, c.T("evt.form_unknown", clip(line, 20)))
			continue
		}
		name := normalize(line[:i])
		value := strings.TrimSpace(strings.TrimLeft(line[i:], ":："))
		key, ok := names[name]
		if !ok {
			problems = append(problems, c.T("evt.form_unknown", clip(line[:i], 20)))
			continue
		}
		raw[key] = value
	}
	data := map[string]string{}
	for _, f := range eventFields {
		v, given := raw[f.key]
		if !given || v == "" {
			if !f.optional {
				problems = append(problems, c.T("evt.form_missing", c.T("evt.f."+f.key)))
			}
			continue
		}
		val, bad := f.parse(e, v, data)
		if bad != "" {
			problems = append(problems, c.T("evt.f."+f.key)+": "+c.T(bad))
			continue
		}
		data[f.key] = val
	}
	return data, problems
}

// cmdEvent is /event: the list, a new event, a roster, or its CSV.
func (e *Engine) cmdEvent(c *Ctx, who StaffMember, args string) []bot.Reply {
	first, rest, _ := strings.Cut(strings.TrimSpace(args), "\n")
	fields := strings.Fields(first)
	switch {
	case len(fields) == 0:
		return e.eventList(c)
	case strings.EqualFold(fields[0], "new"):
		form := strings.TrimSpace(strings.Join(fields[1:], " ") + "\n" + rest)
		if form == "" {
			if c.Turn.Group {
				return []bot.Reply{{Text: c.T("evt.form")}}
			}
			return e.begin(c, "eventnew", nil)
		}
		data, problems := e.parseEventForm(c, form)
		if len(problems) > 0 {
			return []bot.Reply{{Text: c.T("evt.form_problems", strings.Join(problems, "\n"))}}
		}
		return e.createEvent(c, e.eventFromData(data, who.Name))
	}
	ev, err := e.findEvent(c, strings.TrimPrefix(fields[0], "#"))
	if errors.Is(err, store.ErrNotFound) {
		return []bot.Reply{{Text: c.T("evt.not_found", fields[0])}}
	}
	if err != nil {
		e.log.Error("event", "err", err)
		return Unavailable(c.Lang)
	}
	if len(fields) > 1 && strings.EqualFold(fields[1], "csv") {
		_, data, err := e.EventCSV(c, c.Lang, ev.ID)
		if err != nil {
			e.log.Error("event csv", "err", err)
			return Unavailable(c.Lang)
		}
		// The CSV as text; a channel that can send files (the Telegram desk)
		// sends EventCSV's bytes as a document instead.
		return []bot.Reply{{Text: strings.TrimPrefix(string(data), "\ufeff")}}
	}
	return e.eventRoster(c, ev)
}

// findEvent finds an event by id or by config key.
func (e *Engine) findEvent(ctx context.Context, ref string) (store.Event, error) {
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
		return e.st.Event(ctx, id)
	}
	return e.st.EventByKey(ctx, ref)
}

// FindEvent finds an event by its number or its config key (the export command).
func (e *Engine) FindEvent(ctx context.Context, ref string) (store.Event, error) {
	return e.findEvent(ctx, strings.TrimPrefix(strings.TrimSpace(ref), "#"))
}

func (e *Engine) eventList(c *Ctx) []bot.Reply {
	now := e.now()
	evs, err := e.st.EventsBetween(c, now.AddDate(0, 0, -7), now.AddDate(10, 0, 0))
	if err != nil {
		e.log.Error("event list", "err", err)
		return Unavailable(c.Lang)
	}
	if len(evs) == 0 {
		return []bot.Reply{{Text: lines(c.T("evt.list_none"), c.T("evt.usage"))}}
	}
	ls := []string{c.T("evt.list_title")}
	for _, ev := range evs {
		u, err := e.st.EventUse(c, ev.ID)
		if err != nil {
			e.log.Error("event use", "err", err)
			return Unavailable(c.Lang)
		}
		ls = append(ls, c.T("evt.list_line", ev.ID, e.fmtWhen(c.Lang, ev.StartsAt), ev.Title, u.People, ev.Capacity, u.Waiting))
	}
	ls = append(ls, c.T("evt.usage"))
	return []bot.Reply{{Text: strings.Join(ls, "\n")}}
}

func (e *Engine) kindName(lang, kind string) string {
	if _, ok := lookup("kind." + kind); ok {
		return T(lang, "kind."+kind)
	}
	return kind
}

func personName(lang, name string) string {
	if strings.TrimSpace(name) == "" {
		return T(lang, "evt.noname")
	}
	return name
}

// eventRoster is /event ID: counts, the roster with check-ins, offers and
// the waiting list.
func (e *Engine) eventRoster(c *Ctx, ev store.Event) []bot.Reply {
	u, err := e.st.EventUse(c, ev.ID)
	if err != nil {
		e.log.Error("event use", "err", err)
		return Unavailable(c.Lang)
	}
	roster, err := e.st.Roster(c, ev.ID)
	if err != nil {
		e.log.Error("roster", "err", err)
		return Unavailable(c.Lang)
	}
	ls := []string{c.T("evt.roster_head", ev.ID, ev.Title, e.kindName(c.Lang, ev.Kind), e.fmtSpan(c.Lang, ev.StartsAt, ev.EndsAt), ev.Place,
		ev.Capacity, u.People, u.Confirmed, u.Offered, u.Waiting, u.CheckedIn, u.CompanionsIn, u.CheckedIn+u.CompanionsIn), c.T("evt.roster_title")}
	var offered, waiting []string
	n := 0
	for _, r := range roster {
		name := personName(c.Lang, r.Name)
		switch r.Status {
		case store.PlaceConfirmed:
			n++
			plus, in := "", ""
			if r.Companions > 0 {
				plus = c.T("ci.plus", r.Companions)
			}
			if !r.CheckedInAt.IsZero() {
				in = c.T("evt.roster_in", r.CheckedInAt.In(e.loc).Format("15:04"))
				if r.Companions > 0 {
					in += "+" + strconv.Itoa(r.CompanionsIn)
				}
			}
			ls = append(ls, c.T("evt.roster_line", n, r.Code, name, plus, in))
		case store.PlaceOffered:
			offered = append(offered, c.T("evt.roster_offer_line", r.Code, name, e.fmtWhen(c.Lang, r.OfferUntil)))
		case store.PlaceWaiting:
			plus := ""
			if r.Companions > 0 {
				plus = c.T("ci.plus", r.Companions)
			}
			waiting = append(waiting, c.T("evt.roster_wait_line", r.Position, r.Code, name, plus))
		}
	}
	if n == 0 {
		ls = append(ls, c.T("evt.roster_empty"))
	}
	if len(offered) > 0 {
		ls = append(append(ls, c.T("evt.roster_offered")), offered...)
	}
	if len(waiting) > 0 {
		ls = append(append(ls, c.T("evt.roster_waiting")), waiting...)
	}
	ls = append(ls, c.T("evt.roster_csv_hint", ev.ID))
	return []bot.Reply{{Text: strings.Join(ls, "\n")}}
}

// EventCSV is the roster of an event as a CSV file (UTF-8 with a byte-order
// mark, so that spreadsheet programs read the Chinese names): exactly the
// confirmed registrations, in the order of /event ID. Phones are masked.
// It returns a file name for channels that send it as a document.
func (e *Engine) EventCSV(ctx context.Context, lang string, eventID int64) (name string, data []byte, err error) {
	ev, err := e.st.Event(ctx, eventID)
	if err != nil {
		return "", nil, err
	}
	roster, err := e.st.Roster(ctx, eventID)
	if err != nil {
		return "", nil, err
	}
	var buf bytes.Buffer
	buf.WriteString("\ufeff")
	w := csv.NewWriter(&buf)
	w.Write(strings.Split(T(lang, "evt.csv_header"), ","))
	n := 0
	for _, r := range roster {
		if r.Status != store.PlaceConfirmed {
			continue
		}
		n++
		checked, compIn := "", ""
		if !r.CheckedInAt.IsZero() {
			checked = r.CheckedInAt.In(e.loc).Format("2006-01-02 15:04")
			compIn = strconv.Itoa(r.CompanionsIn)
		}
		phone := ""
		if r.Phone != "" {
			phone = MaskPhone(r.Phone)
		}
		w.Write([]string{strconv.Itoa(n), r.Code, csvSafe(r.Name), phone, strconv.Itoa(r.Companions),
			r.CreatedAt.In(e.loc).Format("2006-01-02 15:04"), checked, compIn})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return "", nil, err
	}
	return fmt.Sprintf("event-%d-%s.csv", ev.ID, ev.StartsAt.In(e.loc).Format("20060102")), buf.Bytes(), nil
}

// csvSafe keeps a name that starts like a formula from running as one in a
// spreadsheet (display names are chosen by residents).
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

var checkInCodeRe = regexp.MustCompile(`^[A-Z0-9]{4,12}$`)

// checkInEarly is how long before an event's start its codes are accepted.
const checkInEarly = 2 * time.Hour

// checkInWindow is when codes of ev are accepted without "force": from
// checkInEarly before the start to the end of the start's day in community
// time (or the end of the event, when it runs past midnight). A code shown
// on another day is more likely a mistake than an attendance.
func (e *Engine) checkInWindow(ev store.Event) (from, to time.Time) {
	_, to = e.dayBounds(ev.StartsAt)
	if ev.EndsAt.After(to) {
		to = ev.EndsAt
	}
	return ev.StartsAt.Add(-checkInEarly), to
}

// cmdCheckIn is /checkin CODE [N] [force]: N companions present (default:
// all registered); force checks in outside the event's check-in window.
func (e *Engine) cmdCheckIn(c *Ctx, who StaffMember, args string) []bot.Reply {
	var fields []string
	force := false
	for _, f := range strings.Fields(args) {
		if strings.EqualFold(f, "force") {
			force = true
			continue
		}
		fields = append(fields, f)
	}
	if len(fields) == 0 || len(fields) > 2 {
		return []bot.Reply{{Text: c.T("ci.usage")}}
	}
	code := strings.ToUpper(fields[0])
	companions := -1
	if len(fields) == 2 {
		n, err := strconv.Atoi(fields[1])
		if err != nil || n < 0 {
			return []bot.Reply{{Text: c.T("ci.usage")}}
		}
		companions = n
	}
	if !checkInCodeRe.MatchString(code) {
		return []bot.Reply{{Text: c.T("ci.unknown", clip(fields[0], 12))}}
	}
	if !force {
		if rs, refused := e.checkInRefused(c, code); refused {
			return rs
		}
	}
	g, err := e.st.CheckIn(c, code, companions, who.Name, e.now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return []bot.Reply{{Text: c.T("ci.unknown", code)}}
	case errors.Is(err, store.ErrConflict) && !g.CheckedInAt.IsZero():
		return []bot.Reply{{Text: c.T("ci.again", code, g.CheckedInAt.In(e.loc).Format("01-02 15:04"), g.CheckedInBy)}}
	case errors.Is(err, store.ErrConflict):
		return []bot.Reply{{Text: c.T("ci.not_on_roster", code, e.placeStatus(c.Lang, code, g.Status, g.Position, g.OfferUntil))}}
	case err != nil:
		e.log.Error("checkin", "err", err)
		return Unavailable(c.Lang)
	}
	ev, err := e.st.Event(c, g.EventID)
	if err != nil {
		e.log.Error("checkin: event", "err", err)
		return Unavailable(c.Lang)
	}
	u, err := e.st.EventUse(c, ev.ID)
	if err != nil {
		e.log.Error("checkin: use", "err", err)
		return Unavailable(c.Lang)
	}
	name, err := e.st.ResidentName(c, g.ResidentID)
	if err != nil {
		e.log.Warn("checkin: name", "err", err)
	}
	plus := ""
	if g.CompanionsIn > 0 {
		plus = c.T("ci.plus", g.CompanionsIn)
	}
	return []bot.Reply{{Text: c.T("ci.done", code, personName(c.Lang, name), plus, ev.ID, ev.Title, u.CheckedIn+u.CompanionsIn)}}
}

// checkInRefused refuses a confirmed, not yet checked-in code outside its
// event's check-in window. Anything else is left to the check-in itself,
// which explains unknown codes, repeats and codes not on the roster.
func (e *Engine) checkInRefused(c *Ctx, code string) ([]bot.Reply, bool) {
	g, err := e.st.RegistrationByCode(c, code)
	if err != nil || g.Status != store.PlaceConfirmed || !g.CheckedInAt.IsZero() {
		return nil, false
	}
	ev, err := e.st.Event(c, g.EventID)
	if err != nil {
		e.log.Error("checkin: event", "err", err)
		return Unavailable(c.Lang), true
	}
	now := e.now()
	if from, to := e.checkInWindow(ev); !now.Before(from) && now.Before(to) {
		return nil, false
	}
	return []bot.Reply{{Text: c.T("ci.not_now", code, ev.ID, ev.Title, e.fmtWhen(c.Lang, ev.StartsAt), code)}}, true
}

// dayBounds are midnight to midnight of t's day in community time.
func (e *Engine) dayBounds(t time.Time) (time.Time, time.Time) {
	l := t.In(e.loc)
	start := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, e.loc)
	return start, start.AddDate(0, 0, 1)
}

// cmdToday is /today: today's bookings and events.
func (e *Engine) cmdToday(c *Ctx, _ StaffMember, _ string) []bot.Reply {
	from, to := e.dayBounds(e.now())
	bs, err := e.st.BookingsBetween(c, from, to)
	if err != nil {
		e.log.Error("today: bookings", "err", err)
		return Unavailable(c.Lang)
	}
	evs, err := e.st.EventsBetween(c, from, to)
	if err != nil {
		e.log.Error("today: events", "err", err)
		return Unavailable(c.Lang)
	}
	ls := []string{c.T("today.title", e.fmtDay(c.Lang, from))}
	if len(bs) == 0 && len(evs) == 0 {
		return []bot.Reply{{Text: lines(ls[0], c.T("today.none"))}}
	}
	if len(bs) > 0 {
		ls = append(ls, c.T("today.bookings"))
		for _, b := range bs {
			p := e.bookingInfo(c.Lang, b.Booking)
			ls = append(ls, c.T("today.booking_line", b.SlotAt.In(e.loc).Format("15:04"), p.name, b.Code, personName(c.Lang, b.Name)))
		}
	}
	if len(evs) > 0 {
		ls = append(ls, c.T("today.events"))
		for _, ev := range evs {
			u, err := e.st.EventUse(c, ev.ID)
			if err != nil {
				e.log.Error("today: event use", "err", err)
				return Unavailable(c.Lang)
			}
			ls = append(ls, c.T("today.event_line", ev.StartsAt.In(e.loc).Format("15:04"), ev.ID, ev.Title, u.People, u.CheckedIn+u.CompanionsIn))
		}
	}
	return []bot.Reply{{Text: strings.Join(ls, "\n")}}
}

// eventStatsLines are the lines of /stats about events: attendance by kind
// since `since`, and the progress of every target of the config.
// Person-times are checked-in registrants plus their checked-in companions;
// a target with metric "events" counts the events held.
func (e *Engine) eventStatsLines(c *Ctx, since time.Time) []string {
	now := e.now()
	att, err := e.st.Attendance(c, since, now)
	if err != nil {
		e.log.Error("stats: attendance", "err", err)
		return []string{c.T("unavailable")}
	}
	ls := []string{c.T("stats.attendance", since.In(e.loc).Format("2006-01-02"))}
	if len(att) == 0 {
		ls = append(ls, c.T("stats.attendance_none"))
	}
	for _, k := range att {
		ls = append(ls, c.T("stats.attendance_line", e.kindName(c.Lang, k.Kind), k.Events, k.PersonTimes(), k.CheckedIn, k.CompanionsIn))
	}
	if len(e.cfg.Targets) == 0 {
		return ls
	}
	ls = append(ls, c.T("stats.targets"))
	for _, t := range e.cfg.Targets {
		from, err1 := time.ParseInLocation("2006-01-02", t.From, e.loc)
		to, err2 := time.ParseInLocation("2006-01-02", t.To, e.loc)
		if err1 != nil || err2 != nil {
			continue
		}
		end := to.AddDate(0, 0, 1) // the To day counts whole
		got, err := e.targetProgress(c, t, from, minTime(end, now))
		if err != nil {
			e.log.Error("stats: target", "err", err)
			return append(ls, c.T("unavailable"))
		}
		ls = append(ls, c.T("stats.target_line", pick(c.Lang, t.Name, t.NameEN), got, t.Goal, percent1(got, t.Goal),
			t.From, t.To, percent1(int(clampDur(now.Sub(from), 0, end.Sub(from))/time.Hour), int(end.Sub(from)/time.Hour))))
	}
	return ls
}

// targetProgress counts a target in [from, to).
func (e *Engine) targetProgress(ctx context.Context, t Target, from, to time.Time) (int, error) {
	if !to.After(from) {
		return 0, nil
	}
	att, err := e.st.Attendance(ctx, from, to)
	if err != nil {
		return 0, err
	}
	got := 0
	for _, k := range att {
		if t.EventKind != "" && k.Kind != t.EventKind {
			continue
		}
		if t.Metric == "events" {
			got += k.Events
		} else {
			got += k.PersonTimes()
		}
	}
	return got, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func clampDur(d, lo, hi time.Duration) time.Duration {
	return min(max(d, lo), hi)
}

// percent renders part of whole as 24.7%.
// percent1 is a share with one decimal, for target progress.
func percent1(part, whole int) string {
	if whole <= 0 {
		return "–"
	}
	return strconv.FormatFloat(float64(part)*100/float64(whole), 'f', 1, 64) + "%"
}
