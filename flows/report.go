package flows

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"linli/bot"
	"linli/store"
)

var reportTexts = catalog{
	"report.ask_category":       {"请选择问题类别：", "What kind of problem is it?"},
	"report.expect_category":    {"请从列表中选择一个类别（回复数字即可）。", "Please choose one of the categories (the number is enough)."},
	"report.ask_description":    {"请描述一下问题：什么情况、从什么时候开始？", "Please describe the problem: what is wrong, and since when?"},
	"report.expect_description": {"请用文字描述问题（2 到 1000 个字）。", "Please describe the problem in words (2 to 1000 characters)."},
	"report.photo_early":        {"照片收到了。请再用文字描述一下问题。", "Got the photo. Please also describe the problem in words."},
	"report.ask_photo":          {"如方便，请发一张现场照片；没有照片请回复“跳过”。", "If you can, send a photo of it; otherwise answer “skip”."},
	"report.expect_photo":       {"请发送一张照片，或回复“跳过”。", "Please send a photo, or answer “skip”."},
	"report.ask_location":       {"问题在哪里？请发送位置，或输入楼栋/单元/房号（如：3栋2单元501），没有请回复“跳过”。", "Where is it? Share a location, or type the building/unit/room (e.g. Building 3, Unit 2, 501), or answer “skip”."},
	"report.expect_location":    {"请发送位置或输入地址（100 字以内），或回复“跳过”。", "Please share a location or type an address (up to 100 characters), or answer “skip”."},
	"report.ask_contact":        {"请留一个联系电话，方便工作人员联系您；不想留请回复“跳过”。", "Please leave a phone number so staff can reach you, or answer “skip”."},
	"report.use_phone":          {"使用 %s", "Use %s"},
	"report.expect_contact":     {"请输入 11 位手机号或座机号码，或回复“跳过”。", "Please type an 11-digit mobile or a landline number, or answer “skip”."},
	"report.summary":            {"请确认您的报修：\n类别：%s\n描述：%s\n照片：%s\n地点：%s\n电话：%s", "Please check your report:\nCategory: %s\nDescription: %s\nPhoto: %s\nPlace: %s\nPhone: %s"},
	"report.photo_yes":          {"已附", "attached"},
	"report.none":               {"无", "none"},
	"report.submit":             {"确认提交", "Submit"},
	"report.edit":               {"返回修改", "Back to edit"},
	"report.cancel":             {"取消", "Cancel"},
	"report.expect_confirm":     {"请回复 1 提交，2 返回修改，3 取消。", "Please answer 1 to submit, 2 to go back and edit, 3 to cancel."},
	"report.created":            {"提交成功！工单号 %s。\n我们将在 %s内响应（%s 前）。发送“%s”随时查看进度。", "Submitted! Your ticket number is %s.\nWe will respond within %s (by %s). Send “%s” at any time to see how it is going."},
	"report.hours":              {"%d 小时", "%d hours"},
	"report.location_shared":    {"位置（%.5f, %.5f）%s", "location (%.5f, %.5f) %s"},
}

// addReport registers the report flow: category → description → photo →
// location → contact → confirm → ticket.
func (e *Engine) addReport() {
	e.addIntent(intent{key: "report", label: "menu.report", words: wordsReport, flow: "report", start: func(c *Ctx) []bot.Reply {
		return e.begin(c, "report", nil)
	}})
	e.addFlow(&flow{name: "report", title: "flow.report", start: "category", steps: map[string]*step{
		"category":    {ask: e.askCategory, handle: e.handleCategory},
		"description": {ask: simpleAsk("report.ask_description"), handle: handleDescription},
		"photo":       {ask: askWithSkip("report.ask_photo"), handle: handlePhoto},
		"location":    {ask: e.askLocation, handle: e.handleLocation},
		"contact":     {ask: e.askContact, handle: e.handleContact},
		"confirm":     {ask: e.askConfirm, handle: e.handleConfirm},
	}})
}

func simpleAsk(key string) func(c *Ctx) []bot.Reply {
	return func(c *Ctx) []bot.Reply { return []bot.Reply{{Text: c.T(key)}} }
}

// pickChoice matches an answer against the choices a step showed: the
// button's payload, its number in the list, or its label.
func pickChoice(in Input, choices []bot.Choice) (string, bool) {
	opts := make([]option, len(choices))
	for i, ch := range choices {
		opts[i] = option{key: ch.Payload, label: ch.Label}
	}
	o, ok := choose(in, opts)
	return o.key, ok
}

func askWithSkip(key string) func(c *Ctx) []bot.Reply {
	return func(c *Ctx) []bot.Reply {
		return []bot.Reply{{Text: c.T(key), Choices: []bot.Choice{{Payload: "skip", Label: c.T("word.skip")}}}}
	}
}

func (e *Engine) categoryOptions(c *Ctx) []option {
	opts := make([]option, 0, len(e.cfg.Categories))
	for _, cat := range e.cfg.Categories {
		opts = append(opts, option{key: cat.Key, label: pick(c.Lang, cat.Name, cat.NameEN),
			words: []string{normalize(cat.Name), normalize(cat.NameEN)}})
	}
	return opts
}

func (e *Engine) askCategory(c *Ctx) []bot.Reply {
	return []bot.Reply{ask(c.T("report.ask_category"), e.categoryOptions(c))}
}

func (e *Engine) handleCategory(c *Ctx) result {
	o, ok := choose(c.In, e.categoryOptions(c))
	if !ok {
		return invalid(c.T("report.expect_category"))
	}
	c.Set("category", o.key)
	return next("description")
}

func handleDescription(c *Ctx) result {
	if c.In.Image != nil && c.In.Raw == "" {
		c.Set("photo", c.In.Image.Ref)
		c.Set("photo_url", c.In.Image.URL)
		return stay(bot.Reply{Text: c.T("report.photo_early")})
	}
	n := utf8.RuneCountInString(c.In.Raw)
	if n < 2 || n > 1000 || c.In.Payload != "" {
		return invalid(c.T("report.expect_description"))
	}
	c.Set("description", c.In.Raw)
	if c.Get("photo") != "" {
		return next("location") // the photo came with or before the description
	}
	return next("photo")
}

func handlePhoto(c *Ctx) result {
	switch {
	case c.In.Image != nil:
		c.Set("photo", c.In.Image.Ref)
		c.Set("photo_url", c.In.Image.URL)
		return next("location")
	case is(c.In.Norm, wordsSkip) || c.In.Norm == "1": // "1. 跳过" is the only choice
		c.Set("photo", "")
		c.Set("photo_url", "")
		return next("location")
	}
	return invalid(c.T("report.expect_photo"))
}

// buildingRe finds the building number in an address, so notices can later
// be sent to one building: "3栋", "3号楼", "3幢", "building 3", "B3".
var buildingRe = regexp.MustCompile(`(?i)(?:^|\D)(\d{1,3})\s*(?:栋|号楼|幢|座)|building\s*(\d{1,3})|\bb(\d{1,3})\b`)

func buildingOf(addr string) string {
	m := buildingRe.FindStringSubmatch(addr)
	if m == nil {
		return ""
	}
	for _, g := range m[1:] {
		if g != "" {
			return g
		}
	}
	return ""
}

// askLocation offers the building a QR code pre-filled, if any, before "skip".
func (e *Engine) locationChoices(c *Ctx) []bot.Choice {
	var cs []bot.Choice
	if b := c.Get(prefillBuilding); b != "" {
		cs = append(cs, bot.Choice{Payload: "building", Label: c.T("report.use_building", b)})
	}
	return append(cs, bot.Choice{Payload: "skip", Label: c.T("word.skip")})
}

func (e *Engine) askLocation(c *Ctx) []bot.Reply {
	return []bot.Reply{{Text: c.T("report.ask_location"), Choices: e.locationChoices(c)}}
}

func (e *Engine) handleLocation(c *Ctx) result {
	picked, _ := pickChoice(c.In, e.locationChoices(c))
	if b := c.Get(prefillBuilding); b != "" && picked == "building" {
		c.Set("address", c.T("report.building", b))
		for _, k := range []string{"lat", "lon", "location_label"} {
			c.Set(k, "")
		}
		return next("contact")
	}
	switch {
	case c.In.Location != nil:
		l := c.In.Location
		c.Set("lat", strconv.FormatFloat(l.Latitude, 'f', 6, 64))
		c.Set("lon", strconv.FormatFloat(l.Longitude, 'f', 6, 64))
		c.Set("location_label", clip(l.Label, 200))
		c.Set("address", "")
		return next("contact")
	case picked == "skip" || is(c.In.Norm, wordsSkip):
		for _, k := range []string{"lat", "lon", "location_label", "address"} {
			c.Set(k, "")
		}
		return next("contact")
	case c.In.Raw != "" && c.In.Payload == "" && utf8.RuneCountInString(c.In.Raw) <= 100:
		c.Set("address", c.In.Raw)
		c.Set("lat", "")
		c.Set("lon", "")
		c.Set("location_label", "")
		return next("contact")
	}
	return invalid(c.T("report.expect_location"))
}

func (e *Engine) askContact(c *Ctx) []bot.Reply {
	r := bot.Reply{Text: c.T("report.ask_contact")}
	if p := c.Turn.Resident.Phone; p != "" {
		r.Choices = append(r.Choices, bot.Choice{Payload: "own", Label: c.T("report.use_phone", MaskPhone(p))})
	}
	r.Choices = append(r.Choices, bot.Choice{Payload: "skip", Label: c.T("word.skip")})
	return []bot.Reply{r}
}

var (
	mobileRe   = regexp.MustCompile(`^1[3-9]\d{9}$`)
	landlineRe = regexp.MustCompile(`^0\d{2,3}\d{7,8}$`)
)

// NormalizePhone strips separators and a +86 prefix; ok is false when what
// is left is not a Chinese mobile or landline number.
func NormalizePhone(s string) (string, bool) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '(', ')', '（', '）':
			return -1
		}
		if r >= '０' && r <= '９' {
			return r - '０' + '0'
		}
		return r
	}, s)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "+86"), "0086")
	if mobileRe.MatchString(s) || landlineRe.MatchString(s) {
		return s, true
	}
	return "", false
}

// MaskPhone hides the middle of a phone number: 138****5678.
func MaskPhone(p string) string {
	if len(p) < 7 {
		return strings.Repeat("*", len(p))
	}
	return p[:3] + strings.Repeat("*", len(p)-7) + p[len(p)-4:]
}

func (e *Engine) handleContact(c *Ctx) result {
	own := c.Turn.Resident.Phone
	switch {
	case own != "" && (c.In.Payload == "own" || c.In.Norm == "1" || c.In.Norm == normalize(c.T("report.use_phone", MaskPhone(own)))):
		c.Set("phone", own)
		return next("confirm")
	case is(c.In.Norm, wordsSkip) || (own == "" && c.In.Norm == "1") || (own != "" && c.In.Norm == "2"):
		c.Set("phone", "")
		return next("confirm")
	}
	if p, ok := NormalizePhone(c.In.Raw); ok {
		c.Set("phone", p)
		return next("confirm")
	}
	return invalid(c.T("report.expect_contact"))
}

func (e *Engine) place(c *Ctx) string {
	if c.Get("lat") != "" {
		lat, _ := strconv.ParseFloat(c.Get("lat"), 64)
		lon, _ := strconv.ParseFloat(c.Get("lon"), 64)
		return strings.TrimSpace(c.T("report.location_shared", lat, lon, c.Get("location_label")))
	}
	if a := c.Get("address"); a != "" {
		return a
	}
	return c.T("report.none")
}

func (e *Engine) confirmOptions(c *Ctx) []option {
	return []option{
		{key: "submit", label: c.T("report.submit"), words: wordsYes},
		{key: "edit", label: c.T("report.edit")},
		{key: "cancel", label: c.T("report.cancel")},
	}
}

func (e *Engine) askConfirm(c *Ctx) []bot.Reply {
	cat, _ := e.cfg.category(c.Get("category"))
	photo := c.T("report.none")
	if c.Get("photo") != "" {
		photo = c.T("report.photo_yes")
	}
	phone := c.T("report.none")
	if p := c.Get("phone"); p != "" {
		phone = p
	}
	summary := c.T("report.summary", pick(c.Lang, cat.Name, cat.NameEN), c.Get("description"), photo, e.place(c), phone)
	return []bot.Reply{ask(summary, e.confirmOptions(c))}
}

func (e *Engine) handleConfirm(c *Ctx) result {
	o, ok := choose(c.In, e.confirmOptions(c))
	if !ok {
		return invalid(c.T("report.expect_confirm"))
	}
	switch o.key {
	case "edit":
		return back()
	case "cancel":
		return cancelFlow()
	}
	cat, ok := e.cfg.category(c.Get("category"))
	if !ok {
		return invalid(c.T("report.expect_category"))
	}
	n := store.NewTicket{
		ResidentID: c.Turn.Resident.ID, RequestKey: c.FlowID(), Category: cat.Key,
		Description: c.Get("description"), Photo: c.Get("photo"), PhotoURL: c.Get("photo_url"),
		LocationLabel: c.Get("location_label"), Address: c.Get("address"), ContactPhone: c.Get("phone"),
		Channel: c.Turn.Channel,
	}
	if c.Get("lat") != "" {
		lat, _ := strconv.ParseFloat(c.Get("lat"), 64)
		lon, _ := strconv.ParseFloat(c.Get("lon"), 64)
		n.Latitude, n.Longitude = &lat, &lon
	}
	t, err := e.createTicket(c, n, cat)
	if err != nil {
		e.log.Error("create ticket", "err", err)
		return stay(Unavailable(c.Lang)...)
	}
	if b := buildingOf(n.Address); b != "" && c.Turn.Resident.Building == "" {
		if err := e.st.SetResidentBuilding(c, c.Turn.Resident.ID, b); err != nil {
			e.log.Warn("set building", "err", err)
		}
	}
	due := t.DueAt.In(e.loc).Format("01-02 15:04")
	return done(bot.Reply{Text: c.T("report.created", t.Number, c.T("report.hours", cat.TargetHours), due, t.Number)})
}

// createTicket stores a ticket with its response deadline and tells the
// listeners (the staff desk) about a new one. A repeated request key returns
// the first ticket and tells nobody twice.
func (e *Engine) createTicket(c *Ctx, n store.NewTicket, cat Category) (store.Ticket, error) {
	hours := cat.TargetHours
	if hours <= 0 {
		hours = 24
	}
	n.CreatedAt = e.now()
	n.DueAt = n.CreatedAt.Add(time.Duration(hours) * time.Hour)
	t, existed, err := e.st.CreateTicket(c, n)
	if err != nil {
		return t, fmt.Errorf("flows: %w", err)
	}
	if !existed {
		for _, f := range e.onTicket {
			f(c, t)
		}
	}
	return t, nil
}
