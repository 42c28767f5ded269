package flows

// Command is one entry of a chat channel's command menu (Telegram's
// setMyCommands): its name without the slash and what it does.
type Command struct {
	Name        string
	Description string
}

var commandTexts = catalog{
	"cmd.menu":      {"主菜单", "Main menu"},
	"cmd.report":    {"报事报修", "Report a problem"},
	"cmd.book":      {"预约服务", "Book a service"},
	"cmd.events":    {"社区活动", "Community events"},
	"cmd.status":    {"我的事项", "My open items"},
	"cmd.cancel":    {"取消当前操作", "Leave what you are doing"},
	"cmd.help":      {"帮助", "Help"},
	"cmd.open":      {"未办结工单", "Unresolved tickets"},
	"cmd.t":         {"查看工单：/t T1024", "Show a ticket: /t T1024"},
	"cmd.claim":     {"认领工单：/claim T1024", "Claim a ticket: /claim T1024"},
	"cmd.r":         {"答复居民：/r T1024 内容", "Answer the resident: /r T1024 text"},
	"cmd.resolve":   {"办结工单：/resolve T1024 说明", "Resolve a ticket: /resolve T1024 note"},
	"cmd.reopen":    {"重新打开工单：/reopen T1024 原因", "Reopen a ticket: /reopen T1024 reason"},
	"cmd.today":     {"今日安排", "Today's schedule"},
	"cmd.stats":     {"近 30 天统计", "Figures of the last 30 days"},
	"cmd.broadcast": {"群发通知（管理员）", "Send a notice (admins)"},
	"cmd.event":     {"发布活动", "Create an event"},
	"cmd.checkin":   {"活动签到：/checkin 签到码", "Event check-in: /checkin CODE"},
}

// residentCommandNames are the words residents can also send as commands.
var residentCommandNames = []string{"menu", "report", "book", "events", "status", "cancel", "help"}

// ResidentCommands lists the commands residents can use, described in lang.
func ResidentCommands(lang string) []Command {
	return commandsOf(lang, residentCommandNames)
}

// StaffCommands lists the staff desk's commands, described in lang.
func StaffCommands(lang string) []Command {
	return commandsOf(lang, staffCommandNames)
}

func commandsOf(lang string, names []string) []Command {
	out := make([]Command, len(names))
	for i, n := range names {
		out[i] = Command{Name: n, Description: T(lang, "cmd."+n)}
	}
	return out
}
