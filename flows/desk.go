package flows

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"linli/bot"
	"linli/store"
)

// Outbox kinds the desk writes. They are notify's names; flows does not
// import notify.
const (
	kindReply        = "reply"
	kindTicketUpdate = "ticket_update"
	kindAlert        = "alert"
)

// DeskChat is a group chat that receives the desk's alerts (the Telegram
// staff group). Its Address is the channel's chat id.
type DeskChat struct {
	Channel string
	Address string
}

// noteWindow is how long after a staff reply a resident's free text
// (outside any flow) is taken as a message about the ticket being handled.
const noteWindow = 72 * time.Hour

var deskTexts = catalog{
	"desk.alert_title":      {"🆕 新工单 %s · %s", "🆕 New ticket %s · %s"},
	"desk.alert_desc":       {"描述：%s", "Description: %s"},
	"desk.alert_place":      {"地点：%s", "Place: %s"},
	"desk.alert_map":        {"地图：%s", "Map: %s"},
	"desk.alert_building":   {"楼栋：%s", "Building: %s"},
	"desk.alert_phone":      {"电话：%s", "Phone: %s"},
	"desk.alert_photo":      {"照片：有（居民经 %s 发送）", "Photo: yes (sent by the resident on %s)"},
	"desk.alert_channel":    {"渠道：%s", "Channel: %s"},
	"desk.alert_due":        {"响应时限：%s（%d 小时）", "Respond by: %s (%d hours)"},
	"desk.alert_reply_hint": {"直接回复本消息即可答复居民。", "Reply to this message to answer the resident."},
	"desk.alert_cmd_hint":   {"认领：/claim %s　答复：/r %s 内容　办结：/resolve %s", "Claim: /claim %s  Answer: /r %s text  Resolve: /resolve %s"},
	"desk.btn_claim":        {"认领 Claim", "认领 Claim"},
	"desk.btn_reply":        {"回复 Reply", "回复 Reply"},
	"desk.btn_resolve":      {"办结 Resolve", "办结 Resolve"},
	"desk.no_ticket":        {"没有找到工单 %s。", "There is no ticket %s."},
	"desk.not_open":         {"工单 %s 当前为“%s”，不能这样操作。", "Ticket %s is %s; that cannot be done now."},
	"desk.changed":          {"工单 %s 的状态刚刚变了，请用 /t %s 查看后再试。", "Ticket %s has just changed; check it with /t %s and try again."},
	"desk.claimed":          {"✓ %s 已由 %s 认领。", "✓ %s claimed by %s."},
	"desk.claimed_by":       {"工单 %s 已由 %s 认领。", "Ticket %s is already claimed by %s."},
	"desk.claimed_self":     {"工单 %s 已经是您在处理。", "You are already handling ticket %s."},
	"desk.reply_sent":       {"✓ 已答复居民（%s）。", "✓ Your answer was sent to the resident (%s)."},
	"desk.reply_how":        {"请直接回复工单提醒消息写下答复，或发送 /r %s 答复内容。", "Reply to the ticket alert with your answer, or send /r %s followed by your answer."},
	"desk.resolved":         {"✓ %s 已办结，已请居民评价。", "✓ %s resolved; the resident has been asked to rate it."},
	"desk.resolved_plain":   {"✓ %s 已办结。", "✓ %s resolved."},
	"desk.reopened":         {"✓ %s 已重新打开。", "✓ %s reopened."},
	"desk.phone_private":    {"完整电话仅对处理人显示：请在与机器人的私聊中发送 /t %s 查看。", "The full phone is shown only to the person handling it: send /t %s to the bot in a private chat."},
	"desk.erased":           {"工单 %s 的居民信息已删除，无法联系。", "The resident of ticket %s erased their data and cannot be reached."},
	"desk.acted_elsewhere":  {"%s：%s %s（%s）", "%s: %s %s (%s)"},
	"desk.open_none":        {"目前没有未办结的工单。", "There are no unresolved tickets."},
	"desk.open_title":       {"未办结工单 %d 个（最早的在前）：", "%d unresolved tickets, oldest first:"},
	"desk.open_line":        {"%s · %s · %s · %s · %s", "%s · %s · %s · %s · %s"},
	"desk.open_more":        {"……另有 %d 个，请用 /t 工单号 查看。", "… and %d more; see one with /t and its number."},
	"desk.overdue":          {"⚠️超时", "⚠️overdue"},
	"desk.ago":              {"%s前", "%s ago"},
	"desk.status_assignee":  {"%s（%s）", "%s (%s)"},
	"desk.detail_header":    {"工单 %s · %s · %s", "Ticket %s · %s · %s"},
	"desk.detail_assignee":  {"处理人：%s", "Handled by: %s"},
	"desk.detail_times":     {"提交：%s　响应时限：%s", "Reported: %s  Respond by: %s"},
	"desk.detail_rating":    {"评分：%d/5", "Rating: %d/5"},
	"desk.detail_history":   {"进展：", "History:"},
	"desk.detail_messages":  {"居民最近的消息：", "The resident's recent messages:"},
	"desk.ev.created":       {"提交", "reported"},
	"desk.ev.claimed":       {"认领", "claimed"},
	"desk.ev.replied":       {"答复", "answered"},
	"desk.ev.resolved":      {"办结", "resolved"},
	"desk.ev.reopened":      {"重新打开", "reopened"},
	"desk.ev.rated":         {"居民评分", "rated by the resident"},
	"desk.ev.cancelled":     {"居民取消", "cancelled by the resident"},
	"desk.ev.note":          {"居民补充", "the resident added"},
	"desk.note_alert":       {"💬 %s 居民补充：%s", "💬 %s, the resident adds: %s"},
	"desk.note_photo":       {"[照片]", "[photo]"},
	"desk.note_forwarded":   {"已转给处理工单 %s 的工作人员。", "Passed on to the staff handling ticket %s."},
	"desk.low_rating":       {"⚠️ %s 居民评分 %d/5，请跟进。", "⚠️ %s was rated %d/5 by the resident; please follow up."},
	"desk.to_claimed":       {"您的工单 %s 已由工作人员受理，我们会尽快处理。", "Your ticket %s has been taken on by staff; we will deal with it soon."},
	"desk.to_reply":         {"【工单 %s】工作人员回复：%s", "[Ticket %s] Staff reply: %s"},
	"desk.to_resolved":      {"您的工单 %s 已办结。", "Your ticket %s has been resolved."},
	"desk.to_resolved_note": {"说明：%s", "Note: %s"},
	"desk.to_reopened":      {"您的工单 %s 已重新处理，我们会尽快跟进。", "Your ticket %s is being handled again; we will follow up soon."},
	"desk.tpl_claimed":      {"已受理", "in progress"},
	"desk.tpl_replied":      {"有新回复", "new reply"},
	"desk.tpl_resolved":     {"已办结", "resolved"},
	"desk.tpl_reopened":     {"重新处理", "reopened"},
	"desk.dir_in":           {"居民", "resident"},
	"desk.dir_out":          {"系统", "linli"},
	"dur.minutes":           {"%d 分钟", "%d min"},
	"dur.hours":             {"%d 小时 %d 分", "%dh %dm"},
	"dur.days":              {"%d 天 %d 小时", "%dd %dh"},
}

// addDesk installs the ticket commands of the staff desk, the alert for new
// tickets and the rating flow.
func (e *Engine) addDesk() {
	e.onTicket = append(e.onTicket, e.alertNewTicket)
	e.setStaffCommand(&staffCommand{name: "open", usage: "/open", run: e.cmdOpen})
	e.setStaffCommand(&staffCommand{name: "t", usage: "/t T1024", run: e.cmdTicket})
	e.setStaffCommand(&staffCommand{name: "claim", usage: "/claim T1024", run: e.cmdClaim})
	e.setStaffCommand(&staffCommand{name: "r", usage: "/r T1024 …", run: e.cmdReply})
	e.setStaffCommand(&staffCommand{name: "resolve", usage: "/resolve T1024 […]", run: e.cmdResolve})
	// CONTRACT.md lets staff reopen. It undoes a resolution the resident may
	// already have rated, so, like every staff command, it is audited (runStaff).
	e.setStaffCommand(&staffCommand{name: "reopen", usage: "/reopen T1024 […]", run: e.cmdReopen})
	e.setStaffCommand(&staffCommand{name: "stats", usage: "/stats", run: e.cmdStats})
	e.addRate()
}

// deskFirst sees every message before the flows: the buttons of an alert,
// a staff member's reply to an alert, a resident's rating button, and a
// resident leaving the rating question unanswered.
func (e *Engine) deskFirst(c *Ctx) ([]bot.Reply, bool) {
	if rest, ok := strings.CutPrefix(c.In.Payload, "desk:"); ok {
		action, num, _ := strings.Cut(rest, ":")
		switch action {
		case "claim":
			return e.runStaff(c, "claim", num), true
		case "reply":
			return e.runStaff(c, "r", num), true
		case "resolve":
			return e.runStaff(c, "resolve", num), true
		}
		return nil, true // a button of an older version: nothing to do
	}
	if strings.HasPrefix(c.In.Payload, "rate:") {
		if rs, ok := e.ratePayload(c); ok {
			return rs, true
		}
	}
	e.rateEscape(c)
	if c.Turn.ReplyTo != "" && c.In.Raw != "" && c.In.Payload == "" {
		if _, _, isCmd := parseCommand(c.In.Raw); !isCmd {
			return e.replyToAlert(c)
		}
	}
	return nil, false
}

// chatOf is the chat a turn came from: the group, or the sender's own chat.
func chatOf(t *bot.Turn) string {
	if t.ChatID != "" {
		return t.ChatID
	}
	return t.UserID
}

// ticketArg splits "T1024 rest of the text".
func ticketArg(args string) (number, rest string, ok bool) {
	first, rest, _ := strings.Cut(strings.TrimSpace(args), " ")
	number, ok = store.NormalizeTicketNumber(first)
	return number, strings.TrimSpace(rest), ok
}

func (e *Engine) usage(c *Ctx, name string) []bot.Reply {
	return []bot.Reply{{Text: c.T("staff.usage", e.staff[name].usage)}}
}

// staffTicket loads the ticket a command names, or says why it cannot.
func (e *Engine) staffTicket(c *Ctx, number string) (store.Ticket, []bot.Reply) {
	t, err := e.st.Ticket(c, number)
	if errors.Is(err, store.ErrNotFound) {
		return t, []bot.Reply{{Text: c.T("desk.no_ticket", number)}}
	}
	if err != nil {
		e.log.Error("desk: load ticket", "err", err)
		return t, Unavailable(c.Lang)
	}
	return t, nil
}

func (e *Engine) changeFailed(c *Ctx, number string, err error) []bot.Reply {
	if errors.Is(err, store.ErrConflict) {
		return []bot.Reply{{Text: c.T("desk.changed", number, number)}}
	}
	e.log.Error("desk: change ticket", "ticket", number, "err", err)
	return Unavailable(c.Lang)
}

func (e *Engine) categoryOf(key string) Category {
	if cat, ok := e.cfg.category(key); ok {
		return cat
	}
	return Category{Key: key, Name: key, NameEN: key, TargetHours: 24}
}

// ---- alerts ---------------------------------------------------------------

// alertNewTicket tells the staff group and WeChat staff about a new ticket.
// The rows are in the outbox before the resident sees their ticket number.
func (e *Engine) alertNewTicket(ctx context.Context, t store.Ticket) {
	lang := e.cfg.Community.Language
	cat := e.categoryOf(t.Category)
	building := buildingOf(t.Address)
	if building == "" && t.ResidentID != 0 {
		if res, err := e.st.Resident(ctx, t.ResidentID); err == nil {
			building = res.Building
		}
	}
	var rows []store.OutboxRow
	for _, d := range e.cfg.DeskChats {
		img := photoFor(t, d.Channel)
		body := e.alertText(lang, t, cat, building, img == "", false) + "\n" + T(lang, "desk.alert_reply_hint")
		rows = append(rows, store.OutboxRow{Kind: kindAlert, TargetChannel: d.Channel, TargetAddress: d.Address,
			Ref: t.Number, Urgent: true, DedupeKey: "alert:" + t.Number + ":" + d.Channel + ":" + d.Address,
			Body: store.OutboxBody{Text: body, Choices: deskChoices(lang, t.Number), ImageURL: img, Lang: lang}})
	}
	for _, s := range e.alertedStaff(cat) {
		img := photoFor(t, bot.ChannelWeChat)
		// No buttons: WeChat shows them as numbers, and a number typed by
		// staff would be read as a menu choice.
		body := e.alertText(lang, t, cat, building, img == "", false) + "\n" + T(lang, "desk.alert_cmd_hint", t.Number, t.Number, t.Number)
		rows = append(rows, store.OutboxRow{Kind: kindAlert, TargetChannel: bot.ChannelWeChat, TargetAddress: s.WeChatOpenID,
			Ref: t.Number, Urgent: true, DedupeKey: "alert:" + t.Number + ":wechat:" + s.WeChatOpenID,
			Body: staffTemplate(store.OutboxBody{Text: body, ImageURL: img, Lang: lang}, t.Number, "desk.tpl_new")})
	}
	if len(rows) == 0 {
		return
	}
	if err := e.out.Enqueue(ctx, rows...); err != nil {
		e.log.Error("desk: alert", "ticket", t.Number, "err", err)
	}
}

// alertedStaff are the WeChat staff told of a ticket: the category's
// assignee if they use WeChat, else every WeChat staff member.
func (e *Engine) alertedStaff(cat Category) []StaffMember {
	var all []StaffMember
	for _, s := range e.cfg.Staff {
		if s.WeChatOpenID == "" {
			continue
		}
		if cat.Assignee != "" && s.Name == cat.Assignee {
			return []StaffMember{s}
		}
		all = append(all, s)
	}
	return all
}

func deskChoices(lang, number string) []store.OutboxChoice {
	return []store.OutboxChoice{
		{Payload: "desk:claim:" + number, Label: T(lang, "desk.btn_claim")},
		{Payload: "desk:reply:" + number, Label: T(lang, "desk.btn_reply")},
		{Payload: "desk:resolve:" + number, Label: T(lang, "desk.btn_resolve")},
	}
}

// photoFor is what a channel can show of a ticket's photo: a web URL
// anywhere, or the channel's own reference on the channel it came from
// (a Telegram file_id is only valid for the same bot).
func photoFor(t store.Ticket, channel string) string {
	if strings.HasPrefix(t.PhotoURL, "https://") || strings.HasPrefix(t.PhotoURL, "http://") {
		return t.PhotoURL
	}
	if t.Photo != "" && t.Channel == channel {
		return t.Photo
	}
	return ""
}

// alertText describes a ticket for staff. The contact phone is masked
// unless fullPhone (the assignee, privately: see phoneVisible).
func (e *Engine) alertText(lang string, t store.Ticket, cat Category, building string, photoLine, fullPhone bool) string {
	ls := []string{
		T(lang, "desk.alert_title", t.Number, pick(lang, cat.Name, cat.NameEN)),
		T(lang, "desk.alert_desc", clip(t.Description, 300)),
	}
	if t.Address != "" {
		ls = append(ls, T(lang, "desk.alert_place", t.Address))
	}
	if t.Latitude != nil && t.Longitude != nil {
		ls = append(ls, T(lang, "desk.alert_place", strings.TrimSpace(fmt.Sprintf("%s (%.5f, %.5f)", t.LocationLabel, *t.Latitude, *t.Longitude))),
			T(lang, "desk.alert_map", fmt.Sprintf("https://uri.amap.com/marker?position=%.6f,%.6f", *t.Longitude, *t.Latitude)))
	}
	if building != "" {
		ls = append(ls, T(lang, "desk.alert_building", building))
	}
	if t.ContactPhone != "" {
		p := MaskPhone(t.ContactPhone)
		if fullPhone {
			p = t.ContactPhone
		}
		ls = append(ls, T(lang, "desk.alert_phone", p))
	}
	if photoLine && (t.Photo != "" || t.PhotoURL != "") {
		ls = append(ls, T(lang, "desk.alert_photo", t.Channel))
	}
	ls = append(ls, T(lang, "desk.alert_channel", t.Channel),
		T(lang, "desk.alert_due", t.DueAt.In(e.loc).Format("01-02 15:04"), max(cat.TargetHours, 1)))
	return strings.Join(ls, "\n")
}

// tellDesk posts a line about a ticket to the desk chats, threaded under
// the ticket's alert where it has one, and to the assignee on WeChat. photo
// is a web URL, or a reference of channel photoFrom (shown only there).
// toAssignee also sends it to the ticket's assignee on WeChat.
func (e *Engine) tellDesk(ctx context.Context, t store.Ticket, text, photo, photoFrom string, toAssignee bool) {
	lang := e.cfg.Community.Language
	var rows []store.OutboxRow
	for _, d := range e.cfg.DeskChats {
		thread, err := e.st.AlertMessage(ctx, t.Number, d.Channel, d.Address)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			e.log.Warn("desk: alert thread", "ticket", t.Number, "err", err)
		}
		img := ""
		if photo != "" && (photoFrom == d.Channel || strings.HasPrefix(photo, "http://") || strings.HasPrefix(photo, "https://")) {
			img = photo
		}
		rows = append(rows, store.OutboxRow{Kind: kindAlert, TargetChannel: d.Channel, TargetAddress: d.Address, Ref: t.Number,
			Body: store.OutboxBody{Text: text, ImageURL: img, ThreadRef: thread, Lang: lang}})
	}
	for _, s := range e.cfg.Staff {
		if toAssignee && s.WeChatOpenID != "" && s.Name == t.Assignee {
			rows = append(rows, store.OutboxRow{Kind: kindAlert, TargetChannel: bot.ChannelWeChat, TargetAddress: s.WeChatOpenID,
				Ref: t.Number, Body: staffTemplate(store.OutboxBody{Text: text, Lang: lang}, t.Number, "desk.tpl_attention")})
		}
	}
	if len(rows) == 0 {
		return
	}
	if err := e.out.Enqueue(ctx, rows...); err != nil {
		e.log.Error("desk: tell staff", "ticket", t.Number, "err", err)
	}
}

// fromDeskChat reports whether a staff turn came from a desk chat, where
// everyone already sees the action and its answer.
func (e *Engine) fromDeskChat(c *Ctx) bool {
	for _, d := range e.cfg.DeskChats {
		if d.Channel == c.Turn.Channel && d.Address == chatOf(c.Turn) {
			return true
		}
	}
	return false
}

// actedElsewhere keeps the desk chats informed of actions taken outside them
// (by WeChat staff, or in a private chat with the bot).
func (e *Engine) actedElsewhere(c *Ctx, t store.Ticket, who StaffMember, action, detail string) {
	if e.fromDeskChat(c) {
		return
	}
	lang := e.cfg.Community.Language
	line := T(lang, "desk.acted_elsewhere", t.Number, who.Name, T(lang, "desk.ev."+action), c.Turn.Channel)
	if detail != "" {
		line += "\n" + clip(detail, 500)
	}
	e.tellDesk(c, t, line, "", "", false)
	if len(e.cfg.DeskChats) == 0 && action != store.EventReplied {
		e.tellColleagues(c, t, who, line)
	}
}

// tellColleagues is the group's echo for an office without one: the other
// WeChat staff alerted of the ticket hear who claimed, resolved or reopened
// it, so two people do not take on the same job. Replies are not echoed
// (the group would see them, but one WeChat message per reply per colleague
// would use up their customer-service quota), and there is no template
// fallback: outside a colleague's 48-hour window the echo is dropped.
func (e *Engine) tellColleagues(ctx context.Context, t store.Ticket, who StaffMember, line string) {
	var rows []store.OutboxRow
	for _, s := range e.alertedStaff(e.categoryOf(t.Category)) {
		if s.Name == who.Name {
			continue
		}
		rows = append(rows, store.OutboxRow{Kind: kindAlert, TargetChannel: bot.ChannelWeChat, TargetAddress: s.WeChatOpenID,
			Ref: t.Number, Body: store.OutboxBody{Text: line, Lang: e.cfg.Community.Language}})
	}
	if len(rows) == 0 {
		return
	}
	if err := e.out.Enqueue(ctx, rows...); err != nil {
		e.log.Error("desk: tell colleagues", "ticket", t.Number, "err", err)
	}
}

// ---- telling the resident --------------------------------------------------

func (e *Engine) residentLang(r store.Resident) string {
	if r.Language != "" {
		return r.Language
	}
	return e.cfg.Community.Language
}

// notifyResident puts a message about their ticket in the resident's
// outbox. The template and its parameters let the dispatcher fall back to a
// WeChat template message or an SMS when no chat channel reaches them.
func (e *Engine) notifyResident(ctx context.Context, t store.Ticket, kind, status string, text func(lang string) string, choices []bot.Choice) error {
	if t.ResidentID == 0 {
		return nil
	}
	res, err := e.st.Resident(ctx, t.ResidentID)
	if err != nil {
		return err
	}
	if !res.ErasedAt.IsZero() {
		return nil
	}
	lang := e.residentLang(res)
	body := store.OutboxBody{Text: text(lang), Template: "ticket_update", Lang: lang,
		Params: map[string]string{"ticket": t.Number, "status": T(lang, status)}}
	for _, ch := range choices {
		body.Choices = append(body.Choices, store.OutboxChoice{Payload: ch.Payload, Label: ch.Label})
	}
	return e.out.Enqueue(ctx, store.OutboxRow{Kind: kind, ResidentID: t.ResidentID, Ref: t.Number, Body: body})
}

// ---- commands ----------------------------------------------------------------

func (e *Engine) cmdClaim(c *Ctx, who StaffMember, args string) []bot.Reply {
	num, _, ok := ticketArg(args)
	if !ok {
		return e.usage(c, "claim")
	}
	t, fail := e.staffTicket(c, num)
	if fail != nil {
		return fail
	}
	switch {
	case t.Status == store.TicketClaimed && t.Assignee == who.Name:
		return []bot.Reply{{Text: c.T("desk.claimed_self", num)}}
	case t.Status == store.TicketClaimed:
		return []bot.Reply{{Text: c.T("desk.claimed_by", num, t.Assignee)}}
	case t.Status != store.TicketOpen:
		return []bot.Reply{{Text: c.T("desk.not_open", num, c.T("status."+t.Status))}}
	}
	t, err := e.st.ChangeTicket(c, store.TicketChange{Number: num, From: []string{store.TicketOpen}, To: store.TicketClaimed,
		Assignee: who.Name, FirstResponse: true, Event: store.TicketEvent{Kind: store.EventClaimed, Actor: who.Name, CreatedAt: e.now()}})
	if err != nil {
		return e.changeFailed(c, num, err)
	}
	if err := e.notifyResident(c, t, kindTicketUpdate, "desk.tpl_claimed", func(l string) string { return T(l, "desk.to_claimed", num) }, nil); err != nil {
		e.log.Error("desk: notify claim", "ticket", num, "err", err)
	}
	e.actedElsewhere(c, t, who, store.EventClaimed, "")
	out := c.T("desk.claimed", num, who.Name)
	switch {
	case t.ContactPhone != "" && phoneVisible(c, who, t):
		out += "\n" + c.T("desk.alert_phone", t.ContactPhone)
	case t.ContactPhone != "":
		out += "\n" + c.T("desk.phone_private", num)
	}
	return []bot.Reply{{Text: out}}
}

func (e *Engine) cmdReply(c *Ctx, who StaffMember, args string) []bot.Reply {
	num, text, ok := ticketArg(args)
	if !ok {
		return e.usage(c, "r")
	}
	if text == "" {
		return []bot.Reply{{Text: c.T("desk.reply_how", num)}}
	}
	t, fail := e.staffTicket(c, num)
	if fail != nil {
		return fail
	}
	if !t.Open() {
		return []bot.Reply{{Text: c.T("desk.not_open", num, c.T("status."+t.Status))}}
	}
	if t.ResidentID == 0 {
		return []bot.Reply{{Text: c.T("desk.erased", num)}}
	}
	text = clip(text, 1500)
	change := store.TicketChange{Number: num, From: []string{t.Status}, FirstResponse: true,
		Event: store.TicketEvent{Kind: store.EventReplied, Actor: who.Name, Note: text, CreatedAt: e.now()}}
	if t.Status == store.TicketOpen {
		// Answering a ticket nobody claimed takes it on.
		change.To, change.Assignee = store.TicketClaimed, who.Name
	}
	t, err := e.st.ChangeTicket(c, change)
	if err != nil {
		return e.changeFailed(c, num, err)
	}
	if err := e.notifyResident(c, t, kindReply, "desk.tpl_replied", func(l string) string { return T(l, "desk.to_reply", num, text) }, nil); err != nil {
		e.log.Error("desk: send reply", "ticket", num, "err", err)
		return Unavailable(c.Lang)
	}
	e.actedElsewhere(c, t, who, store.EventReplied, text)
	return []bot.Reply{{Text: c.T("desk.reply_sent", num)}}
}

func (e *Engine) cmdResolve(c *Ctx, who StaffMember, args string) []bot.Reply {
	num, note, ok := ticketArg(args)
	if !ok {
		return e.usage(c, "resolve")
	}
	t, fail := e.staffTicket(c, num)
	if fail != nil {
		return fail
	}
	if !t.Open() {
		return []bot.Reply{{Text: c.T("desk.not_open", num, c.T("status."+t.Status))}}
	}
	note = clip(note, 500)
	change := store.TicketChange{Number: num, From: []string{store.TicketOpen, store.TicketClaimed}, To: store.TicketResolved,
		FirstResponse: true, Event: store.TicketEvent{Kind: store.EventResolved, Actor: who.Name, Note: note, CreatedAt: e.now()}}
	if t.Assignee == "" {
		change.Assignee = who.Name
	}
	t, err := e.st.ChangeTicket(c, change)
	if err != nil {
		return e.changeFailed(c, num, err)
	}
	e.actedElsewhere(c, t, who, store.EventResolved, note)
	if t.ResidentID == 0 {
		return []bot.Reply{{Text: c.T("desk.resolved_plain", num)}}
	}
	// The resident is told and asked to rate at once, while it is fresh.
	ask, started, err := e.StartFlowFor(c, t.ResidentID, "rate", map[string]string{"ticket": num})
	if err != nil {
		e.log.Error("desk: start rating", "ticket", num, "err", err)
	}
	var choices []bot.Choice
	question := func(string) string { return "" }
	switch {
	case started && len(ask) > 0:
		question, choices = func(string) string { return ask[0].Text }, ask[0].Choices
	case err == nil:
		// Busy elsewhere: "5" would answer their own step, so the
		// question asks for "评分 5" (rateAction) and has no numbered choices.
		question = func(l string) string { return askRateTyped(l, num).Text }
	}
	err = e.notifyResident(c, t, kindTicketUpdate, "desk.tpl_resolved", func(l string) string {
		s := T(l, "desk.to_resolved", num)
		if note != "" {
			s += "\n" + T(l, "desk.to_resolved_note", note)
		}
		if q := question(l); q != "" {
			s += "\n\n" + q
		}
		return s
	}, choices)
	if err != nil {
		e.log.Error("desk: notify resolve", "ticket", num, "err", err)
		return []bot.Reply{{Text: c.T("desk.resolved_plain", num)}}
	}
	return []bot.Reply{{Text: c.T("desk.resolved", num)}}
}

func (e *Engine) cmdReopen(c *Ctx, who StaffMember, args string) []bot.Reply {
	num, reason, ok := ticketArg(args)
	if !ok {
		return e.usage(c, "reopen")
	}
	t, fail := e.staffTicket(c, num)
	if fail != nil {
		return fail
	}
	if t.Status != store.TicketResolved {
		return []bot.Reply{{Text: c.T("desk.not_open", num, c.T("status."+t.Status))}}
	}
	to := store.TicketClaimed
	if t.Assignee == "" {
		to = store.TicketOpen
	}
	t, err := e.st.ChangeTicket(c, store.TicketChange{Number: num, From: []string{store.TicketResolved}, To: to,
		Event: store.TicketEvent{Kind: store.EventReopened, Actor: who.Name, Note: clip(reason, 500), CreatedAt: e.now()}})
	if err != nil {
		return e.changeFailed(c, num, err)
	}
	if err := e.notifyResident(c, t, kindTicketUpdate, "desk.tpl_reopened", func(l string) string { return T(l, "desk.to_reopened", num) }, nil); err != nil {
		e.log.Error("desk: notify reopen", "ticket", num, "err", err)
	}
	e.actedElsewhere(c, t, who, store.EventReopened, reason)
	return []bot.Reply{{Text: c.T("desk.reopened", num)}}
}

// maxOpenLines bounds /open so the answer fits one chat message.
const maxOpenLines = 30

func (e *Engine) cmdOpen(c *Ctx, _ StaffMember, _ string) []bot.Reply {
	ts, err := e.st.OpenTickets(c)
	if err != nil {
		e.log.Error("desk: open tickets", "err", err)
		return Unavailable(c.Lang)
	}
	if len(ts) == 0 {
		return []bot.Reply{{Text: c.T("desk.open_none")}}
	}
	now := e.now()
	ls := []string{c.T("desk.open_title", len(ts))}
	for i, t := range ts {
		if i == maxOpenLines {
			ls = append(ls, c.T("desk.open_more", len(ts)-i))
			break
		}
		cat := e.categoryOf(t.Category)
		l := c.T("desk.open_line", t.Number, pick(c.Lang, cat.Name, cat.NameEN), e.statusLabel(c, t),
			c.T("desk.ago", fmtDuration(c.Lang, now.Sub(t.CreatedAt))), clip(t.Description, 30))
		if overdue(t, now) {
			l += " " + c.T("desk.overdue")
		}
		ls = append(ls, l)
	}
	return []bot.Reply{{Text: strings.Join(ls, "\n")}}
}

// overdue: the response target passed and nobody has answered yet.
func overdue(t store.Ticket, now time.Time) bool {
	return t.Open() && t.FirstResponseAt.IsZero() && now.After(t.DueAt)
}

func (e *Engine) statusLabel(c *Ctx, t store.Ticket) string {
	s := c.T("status." + t.Status)
	if t.Assignee != "" && t.Status == store.TicketClaimed {
		s = c.T("desk.status_assignee", s, t.Assignee)
	}
	return s
}

// phoneVisible says whether a staff member may see a ticket's phones in
// full: only the one handling it (its assignee), and only in a private chat,
// since everyone in a group would see the answer too.
func phoneVisible(c *Ctx, who StaffMember, t store.Ticket) bool {
	return t.Assignee != "" && t.Assignee == who.Name && !c.Turn.Group
}

func (e *Engine) cmdTicket(c *Ctx, who StaffMember, args string) []bot.Reply {
	num, _, ok := ticketArg(args)
	if !ok {
		return e.usage(c, "t")
	}
	t, fail := e.staffTicket(c, num)
	if fail != nil {
		return fail
	}
	evs, err := e.st.TicketEvents(c, t.ID)
	if err != nil {
		e.log.Error("desk: ticket events", "err", err)
		return Unavailable(c.Lang)
	}
	const layout = "01-02 15:04"
	cat := e.categoryOf(t.Category)
	building := buildingOf(t.Address)
	var msgs []store.LoggedMessage
	if t.ResidentID != 0 {
		if res, err := e.st.Resident(c, t.ResidentID); err == nil && building == "" {
			building = res.Building
		}
		if msgs, err = e.st.RecentMessages(c, t.ResidentID, 10); err != nil {
			e.log.Warn("desk: recent messages", "err", err)
		}
	}
	ls := []string{c.T("desk.detail_header", t.Number, pick(c.Lang, cat.Name, cat.NameEN), e.statusLabel(c, t))}
	full := phoneVisible(c, who, t)
	body := e.alertText(c.Lang, t, cat, building, true, full)
	if _, rest, ok := strings.Cut(body, "\n"); ok {
		ls = append(ls, rest) // the alert's lines without its title
	}
	ls = append(ls, c.T("desk.detail_times", t.CreatedAt.In(e.loc).Format(layout), t.DueAt.In(e.loc).Format(layout)))
	if overdue(t, e.now()) {
		ls = append(ls, c.T("desk.overdue"))
	}
	if t.Rating > 0 {
		ls = append(ls, c.T("desk.detail_rating", t.Rating))
	}
	ls = append(ls, c.T("desk.detail_history"))
	for _, ev := range evs {
		l := ev.CreatedAt.In(e.loc).Format(layout) + " " + c.T("desk.ev."+ev.Kind)
		if ev.Actor != "" && ev.Actor != "resident" {
			l += " · " + ev.Actor
		}
		if ev.Note != "" {
			l += " · " + clip(ev.Note, 200)
		}
		ls = append(ls, l)
	}
	if len(msgs) > 0 {
		ls = append(ls, c.T("desk.detail_messages"))
		for _, m := range msgs {
			dir := c.T("desk.dir_in")
			if m.Direction == store.DirectionOut {
				dir = c.T("desk.dir_out")
			}
			text := strings.ReplaceAll(m.Text, "\n", " ")
			if !full {
				text = phoneInTextRe.ReplaceAllStringFunc(text, MaskPhone)
			}
			ls = append(ls, m.CreatedAt.In(e.loc).Format(layout)+" "+dir+"："+clip(text, 80))
		}
	}
	if !full && t.ContactPhone != "" && t.Assignee == who.Name && c.Turn.Group {
		ls = append(ls, c.T("desk.phone_private", t.Number))
	}
	return []bot.Reply{{Text: clip(strings.Join(ls, "\n"), 3500)}}
}

// ---- a resident's later messages -----------------------------------------

var ticketInTextRe = regexp.MustCompile(`(?i)\bT\s?(\d{4,9})\b`)

// phoneInTextRe finds mobile numbers in logged messages shown to staff,
// who see phones masked everywhere on the desk.
var phoneInTextRe = regexp.MustCompile(`1[3-9]\d{9}`)

// residentNote passes a resident's message on to the staff handling their
// ticket, threaded under its alert, instead of answering with the menu.
// The rule, for a message outside any flow that no word or number matched:
// it names one of the resident's open tickets (e.g. "T1024 still leaking"),
// or the resident has a claimed ticket that staff answered within the last
// noteWindow (the newest such ticket). Text and photos qualify.
func (e *Engine) residentNote(c *Ctx) ([]bot.Reply, bool) {
	if c.Turn.Group || c.In.Payload != "" || (c.In.Raw == "" && c.In.Image == nil) {
		return nil, false
	}
	for _, words := range [][]string{wordsMenu, wordsHelp, wordsBack, wordsContinue, wordsSkip, wordsYes, wordsNo} {
		if is(c.In.Norm, words) {
			return nil, false // a word that means something on its own
		}
	}
	ts, err := e.st.ResidentTickets(c, c.Turn.Resident.ID, true)
	if err != nil {
		e.log.Error("desk: resident tickets", "err", err)
		return nil, false
	}
	if len(ts) == 0 {
		return nil, false
	}
	var target *store.Ticket
	if m := ticketInTextRe.FindStringSubmatch(c.In.Raw); m != nil {
		for i := range ts {
			if ts[i].Number == "T"+m[1] {
				target = &ts[i]
			}
		}
	}
	if target == nil {
		for i := range ts {
			if ts[i].Status != store.TicketClaimed {
				continue
			}
			at, err := e.st.LastTicketEvent(c, ts[i].ID, store.EventReplied)
			if err != nil {
				e.log.Error("desk: last reply", "err", err)
				return nil, false
			}
			if !at.IsZero() && e.now().Sub(at) <= noteWindow {
				target = &ts[i]
				break
			}
		}
	}
	if target == nil {
		return nil, false
	}
	lang := e.cfg.Community.Language
	note := clip(c.In.Raw, 500)
	photo := ""
	if c.In.Image != nil {
		photo = c.In.Image.URL
		if photo == "" {
			photo = c.In.Image.Ref
		}
		note = strings.TrimSpace(note + " " + T(lang, "desk.note_photo"))
	}
	t, err := e.st.ChangeTicket(c, store.TicketChange{Number: target.Number, From: []string{store.TicketOpen, store.TicketClaimed},
		ResidentID: c.Turn.Resident.ID, Event: store.TicketEvent{Kind: store.EventNote, Actor: "resident", Note: note, CreatedAt: e.now()}})
	if err != nil {
		e.log.Error("desk: note", "ticket", target.Number, "err", err)
		return nil, false
	}
	e.tellDesk(c, t, T(lang, "desk.note_alert", t.Number, note), photo, c.Turn.Channel, true)
	return []bot.Reply{{Text: c.T("desk.note_forwarded", t.Number)}}, true
}

// fmtDuration renders a duration for staff: minutes, hours and minutes, or
// days and hours.
func fmtDuration(lang string, d time.Duration) string {
	if d < 0 {
		d = 0
	}
	m := int(d.Round(time.Minute) / time.Minute)
	switch {
	case m < 60:
		return T(lang, "dur.minutes", m)
	case m < 24*60:
		return T(lang, "dur.hours", m/60, m%60)
	}
	h := m / 60
	return T(lang, "dur.days", h/24, h%24)
}

func itoa(i int) string { return strconv.Itoa(i) }
