package flows

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"linli/bot"
	"linli/store"
)

// maxBroadcastText bounds a notice: Aliyun counts 67 characters per billed
// part of a long SMS, and a notice of four parts is already long.
const maxBroadcastText = 250

// AudienceFunc resolves one kind of broadcast audience (key: an event or a
// service key) to resident ids: nil for a key it does not know, an empty
// slice for one nobody signed up to. Features register theirs with
// addAudience.
type AudienceFunc func(ctx context.Context, key string) ([]int64, error)

// addAudience lets a feature offer an audience kind to /broadcast. The
// bookings feature registers "event" (registrants) and "service" (bookers):
//
//	e.addAudience("event", func(ctx context.Context, key string) ([]int64, error) {...})
//
// Unregistered kinds are shown as not available yet.
func (e *Engine) addAudience(kind string, f AudienceFunc) {
	if e.audiences == nil {
		e.audiences = map[string]AudienceFunc{}
	}
	e.audiences[kind] = f
}

// addBroadcast installs /broadcast (admins) and its flow.
func (e *Engine) addBroadcast() {
	e.setStaffCommand(&staffCommand{name: "broadcast", admin: true, usage: "/broadcast",
		run: func(c *Ctx, who StaffMember, _ string) []bot.Reply {
			return e.begin(c, "broadcast", map[string]string{"by": who.Name})
		}})
	e.addFlow(&flow{name: "broadcast", title: "flow.broadcast", start: "audience", inGroups: true, staff: true, steps: map[string]*step{
		"audience":  {ask: e.askAudience, handle: e.handleAudience},
		"buildings": {ask: simpleAsk("bc.ask_buildings"), handle: e.handleBuildings},
		"tag":       {ask: e.askTag, handle: e.handleTag},
		"event":     {ask: simpleAsk("bc.ask_event"), handle: e.handleAudienceKey("event")},
		"service":   {ask: simpleAsk("bc.ask_service"), handle: e.handleAudienceKey("service")},
		"text":      {ask: func(c *Ctx) []bot.Reply { return []bot.Reply{{Text: c.T("bc.ask_text", maxBroadcastText)}} }, handle: e.handleBroadcastText},
		"when":      {ask: e.askWhen, handle: e.handleWhen},
		"policy":    {ask: e.askPolicy, handle: e.handlePolicy},
		"urgency":   {ask: e.askUrgency, handle: e.handleUrgency},
		"preview":   {ask: e.askPreview, handle: e.handlePreview},
	}})
}

func (e *Engine) audienceOptions(c *Ctx) []option {
	return []option{
		{key: "everyone", label: c.T("bc.aud_everyone")},
		{key: "buildings", label: c.T("bc.aud_buildings")},
		{key: "tag", label: c.T("bc.aud_tag")},
		{key: "event", label: c.T("bc.aud_event")},
		{key: "service", label: c.T("bc.aud_service")},
	}
}

func (e *Engine) askAudience(c *Ctx) []bot.Reply {
	return []bot.Reply{ask(c.T("bc.ask_audience"), e.audienceOptions(c))}
}

func (e *Engine) handleAudience(c *Ctx) result {
	o, ok := choose(c.In, e.audienceOptions(c))
	if !ok {
		return invalid(c.T("bc.expect_choice"))
	}
	c.Set("aud", o.key)
	c.Set("aud_key", "")
	switch o.key {
	case "everyone":
		return next("text")
	case "event", "service":
		if e.audiences[o.key] == nil {
			return invalid(c.T("bc.no_resolver"))
		}
	}
	return next(o.key)
}

func (e *Engine) handleBuildings(c *Ctx) result {
	var bs []string
	for _, f := range strings.FieldsFunc(c.In.Raw, func(r rune) bool { return strings.ContainsRune(",，、;； ", r) }) {
		if b := buildingOf(f); b != "" {
			bs = append(bs, b)
		} else if f = strings.TrimSpace(f); f != "" {
			bs = append(bs, f)
		}
	}
	if len(bs) == 0 {
		return invalid(c.T("bc.ask_buildings"))
	}
	c.Set("aud_key", strings.Join(bs, ","))
	return next("text")
}

func (e *Engine) askTag(c *Ctx) []bot.Reply {
	counts, err := e.st.TagCounts(c)
	if err != nil {
		e.log.Error("tag counts", "err", err)
	}
	var tags []string
	for t, n := range counts {
		tags = append(tags, fmt.Sprintf("%s(%d)", t, n))
	}
	sort.Strings(tags)
	list := strings.Join(tags, "、")
	if list == "" {
		list = c.T("bc.no_tags")
	}
	return []bot.Reply{{Text: c.T("bc.ask_tag", list)}}
}

func (e *Engine) handleTag(c *Ctx) result {
	tag := strings.TrimSpace(c.In.Raw)
	counts, err := e.st.TagCounts(c)
	if err != nil {
		e.log.Error("tag counts", "err", err)
		return stay(Unavailable(c.Lang)...)
	}
	if counts[tag] == 0 {
		return invalid(c.T("bc.unknown_tag"))
	}
	c.Set("aud_key", tag)
	return next("text")
}

func (e *Engine) handleAudienceKey(kind string) func(c *Ctx) result {
	return func(c *Ctx) result {
		key := strings.TrimSpace(c.In.Raw)
		f := e.audiences[kind]
		if f == nil {
			return invalid(c.T("bc.no_resolver"))
		}
		ids, err := f(c, key)
		if err != nil || ids == nil {
			return invalid(c.T("bc.unknown_key", clip(key, 40)))
		}
		c.Set("aud_key", key)
		return next("text")
	}
}

func (e *Engine) handleBroadcastText(c *Ctx) result {
	text := strings.TrimSpace(c.In.Raw)
	if text == "" {
		return invalid(c.T("bc.ask_text", maxBroadcastText))
	}
	if n := utf8.RuneCountInString(text); n > maxBroadcastText {
		return invalid(c.T("bc.text_long", n, maxBroadcastText))
	}
	c.Set("text", text)
	return next("when")
}

const broadcastLayout = "2006-01-02 15:04"

func (e *Engine) askWhen(c *Ctx) []bot.Reply {
	example := e.now().In(e.loc).Add(24*time.Hour).Format("2006-01-02") + " 09:00"
	return []bot.Reply{{Text: c.T("bc.ask_when", example), Choices: []bot.Choice{{Payload: "now", Label: c.T("bc.now")}}}}
}

func (e *Engine) handleWhen(c *Ctx) result {
	if c.In.Payload == "now" || c.In.Norm == "1" || c.In.Norm == "now" || c.In.Norm == normalize(c.T("bc.now")) || c.In.Norm == "现在" || c.In.Norm == "立即" {
		c.Set("due", "")
		return next("policy")
	}
	raw := strings.Join(strings.Fields(strings.ReplaceAll(c.In.Raw, "：", ":")), " ")
	now := e.now().In(e.loc)
	t, err := time.ParseInLocation(broadcastLayout, raw, e.loc)
	if err != nil {
		// "12-20 09:00": this year, or next if that has passed.
		if t2, err2 := time.ParseInLocation("2006-01-02 15:04", strconv.Itoa(now.Year())+"-"+raw, e.loc); err2 == nil {
			t, err = t2, nil
			if t.Before(now) {
				t = t.AddDate(1, 0, 0)
			}
		}
	}
	example := now.Add(24*time.Hour).Format("2006-01-02") + " 09:00"
	if err != nil || !t.After(now) {
		return invalid(c.T("bc.expect_when", example))
	}
	c.Set("due", strconv.FormatInt(t.Unix(), 10))
	return next("policy")
}

func (e *Engine) policyOptions(c *Ctx) []option {
	return []option{
		{key: store.PolicyBotFirst, label: c.T("bc.policy_bot_first")},
		{key: store.PolicySMSOnly, label: c.T("bc.policy_sms_only")},
	}
}

func (e *Engine) askPolicy(c *Ctx) []bot.Reply {
	return []bot.Reply{ask(c.T("bc.ask_policy"), e.policyOptions(c))}
}

func (e *Engine) handlePolicy(c *Ctx) result {
	o, ok := choose(c.In, e.policyOptions(c))
	if !ok {
		return invalid(c.T("bc.expect_choice"))
	}
	c.Set("policy", o.key)
	return next("urgency")
}

func (e *Engine) urgencyOptions(c *Ctx) []option {
	return []option{{key: "normal", label: c.T("bc.normal")}, {key: "urgent", label: c.T("bc.urgent")}}
}

func (e *Engine) askUrgency(c *Ctx) []bot.Reply {
	return []bot.Reply{ask(c.T("bc.ask_urgency"), e.urgencyOptions(c))}
}

func (e *Engine) handleUrgency(c *Ctx) result {
	o, ok := choose(c.In, e.urgencyOptions(c))
	if !ok {
		return invalid(c.T("bc.expect_choice"))
	}
	c.Set("urgent", "")
	if o.key == "urgent" {
		c.Set("urgent", "1")
	}
	return next("preview")
}

// resolveAudience finds who a broadcast reaches now. Unsubscribed residents
// are left out of non-urgent notices.
func (e *Engine) resolveAudience(ctx context.Context, kind, key string, urgent bool) (store.Audience, error) {
	f := store.AudienceFilter{IncludeUnsubscribed: urgent}
	switch kind {
	case "everyone":
		f.Everyone = true
	case "buildings":
		f.Buildings = strings.Split(key, ",")
	case "tag":
		f.Tag = key
	default:
		resolve := e.audiences[kind]
		if resolve == nil {
			return store.Audience{}, fmt.Errorf("flows: no audience resolver for %q", kind)
		}
		ids, err := resolve(ctx, key)
		if err != nil {
			return store.Audience{}, err
		}
		if ids == nil {
			ids = []int64{}
		}
		f.IDs = ids
	}
	return e.st.FindAudience(ctx, f)
}

func (e *Engine) audienceLabel(c *Ctx) string {
	kind, key := c.Get("aud"), c.Get("aud_key")
	label := c.T("bc.aud_" + kind)
	if key == "" {
		return label
	}
	return c.T("bc.audience_label", label, key)
}

func (e *Engine) previewOptions(c *Ctx) []option {
	return []option{{key: "confirm", label: c.T("bc.confirm"), words: wordsYes}, {key: "cancel", label: c.T("bc.cancel"), words: wordsNo}}
}

func (e *Engine) askPreview(c *Ctx) []bot.Reply {
	aud, err := e.resolveAudience(c, c.Get("aud"), c.Get("aud_key"), c.Get("urgent") != "")
	if err != nil {
		e.log.Error("broadcast audience", "err", err)
		return Unavailable(c.Lang)
	}
	when := c.T("bc.when_now")
	if d := c.Get("due"); d != "" {
		sec, _ := strconv.ParseInt(d, 10, 64)
		when = time.Unix(sec, 0).In(e.loc).Format(broadcastLayout)
	}
	policy := c.T("bc.policy_bot_first")
	if c.Get("policy") == store.PolicySMSOnly {
		policy = c.T("bc.policy_sms_only")
	}
	urgent := c.T("word.urgent_no")
	if c.Get("urgent") != "" {
		urgent = c.T("word.urgent_yes")
	}
	text := c.T("bc.preview", e.audienceLabel(c), len(aud.IDs), aud.WithPhone, when, policy, urgent, c.Get("text"))
	return []bot.Reply{ask(text, e.previewOptions(c))}
}

func (e *Engine) handlePreview(c *Ctx) result {
	o, ok := choose(c.In, e.previewOptions(c))
	if !ok {
		return invalid(c.T("bc.expect_choice"))
	}
	if o.key == "cancel" {
		return cancelFlow()
	}
	aud, err := e.resolveAudience(c, c.Get("aud"), c.Get("aud_key"), c.Get("urgent") != "")
	if err != nil {
		e.log.Error("broadcast audience", "err", err)
		return stay(Unavailable(c.Lang)...)
	}
	if len(aud.IDs) == 0 {
		return done(bot.Reply{Text: c.T("bc.empty")})
	}
	due := e.now()
	when := c.T("bc.when_now")
	if d := c.Get("due"); d != "" {
		sec, _ := strconv.ParseInt(d, 10, 64)
		due = time.Unix(sec, 0)
		when = due.In(e.loc).Format(broadcastLayout)
	}
	b, err := e.st.CreateBroadcast(c, store.Broadcast{
		CreatedBy: c.Get("by"), AudienceKind: c.Get("aud"), AudienceKey: c.Get("aud_key"), Text: c.Get("text"),
		Policy: c.Get("policy"), Urgent: c.Get("urgent") != "", Lang: e.cfg.Community.Language, DueAt: due,
	})
	if err != nil {
		e.log.Error("create broadcast", "err", err)
		return stay(Unavailable(c.Lang)...)
	}
	e.log.Info("broadcast scheduled", "id", b.ID, "by", b.CreatedBy, "audience", b.AudienceKind, "recipients", len(aud.IDs))
	if c.Get("due") == "" {
		// Sent now: the rows go in during this turn rather than at the next
		// run of the broadcasts job. A crash half-way is finished by that job.
		if err := e.startBroadcast(c, b, e.now()); err != nil {
			e.log.Error("start broadcast", "id", b.ID, "err", err)
		}
	}
	return done(bot.Reply{Text: c.T("bc.scheduled", b.ID, when)})
}

// wake asks the outbox (when it can be asked) to look for work now.
func (e *Engine) wake() {
	if w, ok := e.out.(interface{ Wake() }); ok {
		w.Wake()
	}
}
