package flows

import (
	"strings"

	"linli/bot"
	"linli/store"
)

var staffTexts = catalog{
	"staff.refused":    {"您不是本社区工作人员，无法使用 /%s。此次尝试已记录。", "You are not on the staff of this community, so /%s is refused. The attempt has been logged."},
	"staff.admin_only": {"/%s 仅限管理员使用。此次尝试已记录。", "/%s is for admins only. The attempt has been logged."},
	"staff.not_yet":    {"/%s 暂未开通。", "/%s is not available yet."},
	"staff.unknown":    {"未知命令 /%s。可用命令：%s", "Unknown command /%s. Commands: %s"},
	"staff.usage":      {"用法：%s", "Usage: %s"},
}

// staffCommand is one command of the staff desk.
type staffCommand struct {
	name  string
	admin bool   // only staff with role admin may run it
	usage string // e.g. "/claim T1024"
	run   func(c *Ctx, who StaffMember, args string) []bot.Reply
}

// residentCommands are the slash commands residents have (the Telegram
// menu's, and /start with its deep link).
var residentCommands = map[string]bool{"start": true, "menu": true, "report": true, "book": true,
	"events": true, "status": true, "cancel": true, "help": true}

// staffCommandNames lists the commands of CONTRACT.md in help order.
var staffCommandNames = []string{"open", "t", "claim", "r", "resolve", "reopen", "today", "stats", "broadcast", "event", "checkin"}

// addStaffDesk registers every staff command as "not available yet"; the
// features that implement them replace the entries.
func (e *Engine) addStaffDesk() {
	e.staff = map[string]*staffCommand{}
	for _, n := range staffCommandNames {
		name := n
		e.staff[name] = &staffCommand{name: name, usage: "/" + name, run: func(c *Ctx, _ StaffMember, _ string) []bot.Reply {
			return []bot.Reply{{Text: c.T("staff.not_yet", name)}}
		}}
	}
	e.staff["broadcast"].admin = true
}

// setStaffCommand installs or replaces a staff command.
func (e *Engine) setStaffCommand(cmd *staffCommand) { e.staff[cmd.name] = cmd }

// parseCommand splits "/claim@linli_bot T1024 text" into "claim" and
// "T1024 text". ok is false when text is not a command.
func parseCommand(text string) (name, args string, ok bool) {
	text = strings.TrimSpace(text)
	if !strings.HasPrefix(text, "/") && !strings.HasPrefix(text, "／") {
		return "", "", false
	}
	text = strings.TrimPrefix(strings.TrimPrefix(text, "/"), "／")
	name, args, _ = strings.Cut(text, " ")
	if i := strings.IndexAny(name, "\n\t"); i >= 0 {
		name, args = name[:i], name[i+1:]+" "+args
	}
	name, _, _ = strings.Cut(name, "@")
	return strings.ToLower(name), strings.TrimSpace(args), name != ""
}

// staffDesk gives the desk the first look at every message: alert buttons
// and replies to alerts from staff, ratings from residents, and staff
// commands. handled is false when the message is none of these, so the
// resident flows see it.
func (e *Engine) staffDesk(c *Ctx) (replies []bot.Reply, handled bool) {
	if rs, ok := e.deskFirst(c); ok {
		return rs, true
	}
	name, args, ok := parseCommand(c.Turn.Text)
	if !ok {
		return nil, false
	}
	if _, known := e.staff[name]; !known {
		// A staff member's typo (/clam) is answered with the commands, in the
		// group and in a private chat (WeChat staff have no group); a
		// resident's /menu, /report … stay resident words.
		if _, isStaff := e.cfg.staffByIdentity(c.Turn.Channel, c.Turn.UserID); isStaff && (c.Turn.Group || !residentCommands[name]) {
			return []bot.Reply{{Text: c.T("staff.unknown", name, "/"+strings.Join(staffCommandNames, " /"))}}, true
		}
		return nil, false
	}
	return e.runStaff(c, name, args), true
}

// runStaff authorises, audits and runs one staff command, however it was
// given: typed, a button on an alert, or a reply to an alert.
func (e *Engine) runStaff(c *Ctx, name, args string) []bot.Reply {
	cmd := e.staff[name]
	who, isStaff := e.cfg.staffByIdentity(c.Turn.Channel, c.Turn.UserID)
	actor := who.Name
	if !isStaff {
		actor = c.Turn.Channel + ":" + c.Turn.UserID
	}
	entry := store.AuditEntry{Actor: actor, Action: name, Detail: clip(args, 200), CreatedAt: e.now()}
	if num, _, _ := strings.Cut(args, " "); num != "" {
		if n, ok := store.NormalizeTicketNumber(num); ok {
			entry.Target = n
		}
	}
	switch {
	case !isStaff:
		e.log.Warn("staff command refused: not staff", "channel", c.Turn.Channel, "command", name)
		e.audit(c, entry)
		return []bot.Reply{{Text: c.T("staff.refused", name)}}
	case cmd.admin && who.Role != "admin":
		e.log.Warn("staff command refused: admin only", "staff", who.Name, "command", name)
		e.audit(c, entry)
		return []bot.Reply{{Text: c.T("staff.admin_only", name)}}
	}
	entry.Allowed = true
	e.audit(c, entry)
	return cmd.run(c, who, args)
}

func (e *Engine) audit(c *Ctx, entry store.AuditEntry) {
	if err := e.st.Audit(c, entry); err != nil {
		e.log.Error("audit", "err", err)
	}
}
