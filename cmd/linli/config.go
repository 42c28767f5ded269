package main

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"linli/bot/telegram"
	"linli/bot/wechat"
	"linli/flows"
	"linli/notify"
	"linli/store"
)

// Config is the whole config file: each package owns its section.
type Config struct {
	Community  flows.Community       `yaml:"community"`
	Server     ServerConfig          `yaml:"server"`
	Store      store.Config          `yaml:"store"`
	WeChat     wechat.Config         `yaml:"wechat"`
	Telegram   telegram.Config       `yaml:"telegram"`
	SMS        notify.SMSConfig      `yaml:"sms"`
	Schedule   notify.ScheduleConfig `yaml:"schedule"`
	Staff      []flows.StaffMember   `yaml:"staff"`
	Categories []flows.Category      `yaml:"categories"`
	Services   []flows.Service       `yaml:"services"`
	Events     []flows.EventSpec     `yaml:"events"`
	Targets    []flows.Target        `yaml:"targets"`
}

// ServerConfig is the `server` section.
type ServerConfig struct {
	Listen    string `yaml:"listen"`
	PublicURL string `yaml:"public_url"`
	DevPages  bool   `yaml:"dev_pages"`
	// SessionSecret signs the web chat's session cookies; empty: one is
	// generated on first start and kept in the database.
	SessionSecret string `yaml:"session_secret"`
	// UploadDir holds photos sent from the web chat; empty: "uploads" beside the database.
	UploadDir string `yaml:"upload_dir"`
	// RealIPHeader names the header a reverse proxy sets to the client's
	// address, for per-address limits; empty: the connection's address.
	RealIPHeader string `yaml:"real_ip_header"`
}

// defaults are the values of keys a file leaves out.
func defaults() Config {
	var c Config
	// Consent is asked unless a file says otherwise: forgetting the key
	// must not make a deployment skip it.
	c.Community = flows.Community{Name: "邻里社区", Timezone: "Asia/Shanghai", Language: "zh-CN",
		FlowIdle: 30 * time.Minute, ResumeWithin: 24 * time.Hour, RequireConsent: true}
	c.Server = ServerConfig{Listen: "127.0.0.1:8080", PublicURL: "http://127.0.0.1:8080"}
	c.Store = store.Config{Path: "./data/linli.db", MessageRetentionDays: 180}
	c.WeChat.Path = "/wechat"
	c.WeChat.APIBaseURL = "https://api.weixin.qq.com"
	c.WeChat.ReplyBudget = 4 * time.Second
	c.Telegram.Mode = "polling"
	c.Telegram.WebhookPath = "/telegram"
	c.Telegram.APIBaseURL = "https://api.telegram.org"
	c.SMS.Provider = "log"
	c.SMS.RatePerSecond = 50
	c.SMS.QuietHours = "21:00-08:00"
	c.SMS.BatchSize = 1000
	c.Schedule = notify.DefaultSchedule()
	c.SMS.Aliyun.RegionID = "cn-hangzhou"
	c.SMS.Aliyun.Endpoint = "dysmsapi.aliyuncs.com"
	c.SMS.Aliyun.Scheme = "https"
	return c
}

// defaultCategories are the report categories of a file that names none:
// the five kinds of problem residents report, and "other".
func defaultCategories() []flows.Category {
	return []flows.Category{
		{Key: "sanitation", Name: "环境卫生", NameEN: "Sanitation", TargetHours: 24},
		{Key: "repairs", Name: "设施维修", NameEN: "Repairs", TargetHours: 48},
		{Key: "safety", Name: "治安安全", NameEN: "Safety", TargetHours: 2},
		{Key: "disputes", Name: "邻里纠纷", NameEN: "Neighbour disputes", TargetHours: 24},
		{Key: "noise", Name: "噪音扰民", NameEN: "Noise", TargetHours: 12},
		{Key: "other", Name: "其他", NameEN: "Other", TargetHours: 48},
	}
}

// secretEnv lists the keys that the environment may supply; it wins over the file.
var secretEnv = []struct {
	env, key string
	field    func(*Config) *string
}{
	{"LINLI_SESSION_SECRET", "server.session_secret", func(c *Config) *string { return &c.Server.SessionSecret }},
	{"LINLI_WECHAT_APP_SECRET", "wechat.app_secret", func(c *Config) *string { return &c.WeChat.AppSecret }},
	{"LINLI_WECHAT_TOKEN", "wechat.token", func(c *Config) *string { return &c.WeChat.Token }},
	{"LINLI_WECHAT_ENCODING_AES_KEY", "wechat.encoding_aes_key", func(c *Config) *string { return &c.WeChat.EncodingAESKey }},
	{"LINLI_TELEGRAM_TOKEN", "telegram.token", func(c *Config) *string { return &c.Telegram.Token }},
	{"LINLI_TELEGRAM_WEBHOOK_SECRET", "telegram.webhook_secret", func(c *Config) *string { return &c.Telegram.WebhookSecret }},
	{"LINLI_SMS_INBOUND_SECRET", "sms.inbound_secret", func(c *Config) *string { return &c.SMS.InboundSecret }},
	{"LINLI_SMS_ALIYUN_ACCESS_KEY_ID", "sms.aliyun.access_key_id", func(c *Config) *string { return &c.SMS.Aliyun.AccessKeyID }},
	{"LINLI_SMS_ALIYUN_ACCESS_KEY_SECRET", "sms.aliyun.access_key_secret", func(c *Config) *string { return &c.SMS.Aliyun.AccessKeySecret }},
}

// loadConfig reads, decodes and validates a config file, returning every
// problem found. getenv supplies secrets (os.Getenv in production).
func loadConfig(path string, getenv func(string) string) (Config, []Problem) {
	cfg := defaults()
	data, err := os.ReadFile(path)
	if err != nil {
		return cfg, []Problem{{File: path, Line: 0, Msg: "cannot read the config file: " + strings.TrimPrefix(err.Error(), "open "+path+": ")}}
	}
	problems, lines := decodeStrict(path, data, &cfg)
	if len(cfg.Categories) == 0 {
		// CONTRACT.md's own sample config has `categories: []`, and a
		// minimal file leaves the key out: both must run, and a report
		// needs a category, so they get the usual six.
		cfg.Categories = defaultCategories()
	}
	for _, s := range secretEnv {
		if v := getenv(s.env); v != "" {
			*s.field(&cfg) = v
		}
	}
	// Validation runs even when decoding found problems, so one run of
	// check lists everything; it stays quiet about keys decoding already
	// complained of (and their sections), which would only repeat them.
	v := validator{file: path, lines: lines}
	v.check(&cfg)
	for _, p := range v.problems {
		if !coveredBy(p.Key, problems) {
			problems = append(problems, p)
		}
	}
	sort.SliceStable(problems, func(i, j int) bool { return problems[i].Line < problems[j].Line })
	return cfg, problems
}

// coveredBy reports whether a problem about key repeats a decoding problem:
// the same key, a key inside it, or the key it sits in.
func coveredBy(key string, decoded []Problem) bool {
	for _, d := range decoded {
		if d.Key == "" {
			return true // a syntax error: the file was not read at all
		}
		if key == d.Key || strings.HasPrefix(key, d.Key+".") || strings.HasPrefix(key, d.Key+"[") ||
			strings.HasPrefix(d.Key, key+".") || strings.HasPrefix(d.Key, key+"[") {
			return true
		}
	}
	return false
}

// validator collects semantic problems, located at the line of their key.
type validator struct {
	file     string
	lines    keyLines
	problems []Problem
}

func (v *validator) add(key, format string, args ...any) {
	v.problems = append(v.problems, Problem{File: v.file, Line: v.lines.nearestLine(key), Key: key, Msg: fmt.Sprintf(format, args...)})
}

var (
	keyRe   = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)
	clockRe = regexp.MustCompile(`^([01]\d|2[0-3]):[0-5]\d$`)
	dayRe   = regexp.MustCompile(`^(mon|tue|wed|thu|fri|sat|sun)$`)
	// headerRe is an HTTP header name (RFC 9110 token characters).
	headerRe = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")
)

func (v *validator) check(c *Config) {
	if strings.TrimSpace(c.Community.Name) == "" {
		v.add("community.name", "must not be empty")
	}
	if _, err := time.LoadLocation(c.Community.Timezone); err != nil || c.Community.Timezone == "" {
		v.add("community.timezone", "unknown time zone %q (use e.g. Asia/Shanghai)", c.Community.Timezone)
	}
	if c.Community.Language != "zh-CN" && c.Community.Language != "en" {
		v.add("community.language", "must be zh-CN or en, got %q", c.Community.Language)
	}
	if c.Community.FlowIdle < time.Minute {
		v.add("community.flow_idle", "must be at least 1m")
	}
	if _, _, err := net.SplitHostPort(c.Server.Listen); err != nil {
		v.add("server.listen", "must be host:port, got %q", c.Server.Listen)
	}
	if u, err := url.Parse(c.Server.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.add("server.public_url", "must be an http(s) URL, got %q", c.Server.PublicURL)
	} else if c.Server.DevPages {
		// /dev/outbox shows verification codes and residents' messages with
		// no login: only for a developer's own machine.
		host, _, _ := net.SplitHostPort(c.Server.Listen)
		if ip := net.ParseIP(host); u.Scheme == "https" || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
			v.add("server.dev_pages", "shows verification codes and residents' messages without a login: set it to false, or serve only on a loopback address with an http public_url")
		}
	}
	if n := len(c.Server.SessionSecret); n > 0 && n < 32 {
		v.add("server.session_secret", "must be at least 32 characters (or empty to generate one), got %d", n)
	}
	if h := c.Server.RealIPHeader; h != "" && !headerRe.MatchString(h) {
		v.add("server.real_ip_header", "must be a header name such as X-Real-IP, got %q", h)
	}
	if c.Store.Path == "" {
		v.add("store.path", "must not be empty")
	}
	if c.Store.MessageRetentionDays < 0 {
		v.add("store.message_retention_days", "must not be negative")
	}
	v.checkWeChat(c)
	v.checkTelegram(c)
	v.checkSMS(c)
	v.checkPeople(c)
}

func (v *validator) required(key, value string) {
	if strings.TrimSpace(value) == "" {
		env := ""
		for _, s := range secretEnv {
			if s.key == key {
				env = " (or set " + s.env + ")"
			}
		}
		v.add(key, "required when the channel is enabled%s", env)
	}
}

func (v *validator) url(key, value string) {
	if u, err := url.Parse(value); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.add(key, "must be an http(s) URL, got %q", value)
	}
}

// urlPathRe is a plain URL path: net/http's ServeMux panics at start on a
// space (read as a method) or a brace (read as a wildcard).
var urlPathRe = regexp.MustCompile(`^(/[A-Za-z0-9._~-]+)+/?$`)

// ownPaths are linli's own endpoints; a channel path on or under one of
// them would never be reached, or take theirs.
var ownPaths = []string{"/healthz", "/metrics", "/api", "/static", "/media", "/qr", "/sms", "/dev"}

func (v *validator) path(key, value string) {
	if !urlPathRe.MatchString(value) {
		v.add(key, "must be a path such as /wechat (letters, digits, . _ ~ - and /), got %q", value)
		return
	}
	for _, own := range ownPaths {
		if value == own || strings.HasPrefix(value, own+"/") {
			v.add(key, "%s is linli's own; choose another path such as /wechat", own)
			return
		}
	}
}

func (v *validator) checkWeChat(c *Config) {
	w := c.WeChat
	v.path("wechat.path", w.Path)
	v.url("wechat.api_base_url", w.APIBaseURL)
	if w.ReplyBudget <= 0 || w.ReplyBudget >= 5*time.Second {
		v.add("wechat.reply_budget", "must be between 0 and 5s (WeChat waits 5 s), got %s", w.ReplyBudget)
	}
	if w.EncodingAESKey != "" && len(w.EncodingAESKey) != 43 {
		v.add("wechat.encoding_aes_key", "must be 43 characters, got %d", len(w.EncodingAESKey))
	}
	for i, s := range w.QRScenes {
		k := fmt.Sprintf("wechat.qr_scenes[%d]", i)
		if s.Scene == "" {
			v.add(k+".scene", "must not be empty")
		}
		switch s.Flow {
		case "report", "book", "events", "status":
		default:
			v.add(k+".flow", "must be report, book, events or status, got %q", s.Flow)
		}
	}
	if !w.Enabled {
		return
	}
	v.required("wechat.app_id", w.AppID)
	v.required("wechat.app_secret", w.AppSecret)
	v.required("wechat.token", w.Token)
}

func (v *validator) checkTelegram(c *Config) {
	t := c.Telegram
	if t.Mode != "polling" && t.Mode != "webhook" {
		v.add("telegram.mode", "must be polling or webhook, got %q", t.Mode)
	}
	v.path("telegram.webhook_path", t.WebhookPath)
	v.url("telegram.api_base_url", t.APIBaseURL)
	if !t.Enabled {
		return
	}
	v.required("telegram.token", t.Token)
	if t.Mode == "webhook" {
		if c.WeChat.Enabled && strings.TrimRight(t.WebhookPath, "/") == strings.TrimRight(c.WeChat.Path, "/") {
			// Both on one path: the server would refuse to start (or one
			// channel would get the other's requests).
			v.add("telegram.webhook_path", "must differ from wechat.path (%s)", c.WeChat.Path)
		}
		if !strings.HasPrefix(c.Server.PublicURL, "https://") {
			v.add("server.public_url", "must be an https URL: Telegram only posts webhooks to https")
		}
		v.required("telegram.webhook_secret", t.WebhookSecret)
		if t.WebhookSecret != "" && !regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`).MatchString(t.WebhookSecret) {
			v.add("telegram.webhook_secret", "may only hold A-Z, a-z, 0-9, _ and - (Telegram's rule), 1 to 256 of them")
		}
	}
}

func (v *validator) checkSMS(c *Config) {
	s := c.SMS
	switch s.Provider {
	case "log":
	case "aliyun":
		a := s.Aliyun
		v.required("sms.aliyun.access_key_id", a.AccessKeyID)
		v.required("sms.aliyun.access_key_secret", a.AccessKeySecret)
		v.required("sms.aliyun.sign_name", a.SignName)
		v.required("sms.aliyun.templates.verify_code", a.Templates.VerifyCode)
	default:
		v.add("sms.provider", "must be log or aliyun, got %q", s.Provider)
	}
	if s.RatePerSecond < 1 || s.RatePerSecond > 10000 {
		v.add("sms.rate_per_second", "must be between 1 and 10000, got %d", s.RatePerSecond)
	}
	if s.QuietHours != "" {
		from, to, ok := strings.Cut(s.QuietHours, "-")
		if !ok || !clockRe.MatchString(from) || !clockRe.MatchString(to) {
			v.add("sms.quiet_hours", "must look like 21:00-08:00 or be empty, got %q", s.QuietHours)
		}
	}
	if s.Aliyun.Scheme != "https" && s.Aliyun.Scheme != "http" {
		v.add("sms.aliyun.scheme", "must be https or http, got %q", s.Aliyun.Scheme)
	}
	if s.BatchSize < 1 || s.BatchSize > 1000 {
		v.add("sms.batch_size", "must be between 1 and 1000 (Aliyun's limit per SendSms), got %d", s.BatchSize)
	}
	v.checkSchedule(c)
}

func (v *validator) checkSchedule(c *Config) {
	s := c.Schedule
	for _, d := range []struct {
		key string
		v   time.Duration
		min time.Duration
	}{
		{"schedule.dispatch_every", s.DispatchEvery, time.Second},
		{"schedule.lease", s.Lease, time.Second},
		{"schedule.survey_after", s.SurveyAfter, time.Minute},
		{"schedule.surveys_every", s.SurveysEvery, time.Second},
		{"schedule.escalate_every", s.EscalateEvery, time.Second},
		{"schedule.broadcasts_every", s.BroadcastsEvery, time.Second},
		{"schedule.receipt_after", s.ReceiptAfter, time.Minute},
	} {
		if d.v < d.min {
			v.add(d.key, "must be at least %s, got %s", d.min, d.v)
		}
	}
	if s.EscalateRepeat < 0 {
		v.add("schedule.escalate_repeat", "must not be negative")
	}
	if s.HoldFor < 0 {
		v.add("schedule.hold_for", "must not be negative (0: wait for the page however long)")
	}
	if !clockRe.MatchString(s.DigestAt) {
		v.add("schedule.digest_at", "must be a time such as 09:00, got %q", s.DigestAt)
	}
	if !clockRe.MatchString(s.PurgeAt) {
		v.add("schedule.purge_at", "must be a time such as 03:30, got %q", s.PurgeAt)
	}
}

func (v *validator) checkPeople(c *Config) {
	names := map[string]bool{}
	for i, s := range c.Staff {
		k := fmt.Sprintf("staff[%d]", i)
		if strings.TrimSpace(s.Name) == "" {
			v.add(k+".name", "must not be empty")
		}
		if names[s.Name] {
			v.add(k+".name", "%q appears twice", s.Name)
		}
		names[s.Name] = true
		if s.Role != "admin" && s.Role != "staff" {
			v.add(k+".role", "must be admin or staff, got %q", s.Role)
		}
		if s.Phone != "" {
			if _, ok := flows.NormalizePhone(s.Phone); !ok {
				v.add(k+".phone", "is not a phone number")
			}
		}
	}
	seen := map[string]bool{}
	for i, cat := range c.Categories {
		k := fmt.Sprintf("categories[%d]", i)
		if !keyRe.MatchString(cat.Key) {
			v.add(k+".key", "must be lower-case letters, digits and _, got %q", cat.Key)
		}
		if seen[cat.Key] {
			v.add(k+".key", "%q appears twice", cat.Key)
		}
		seen[cat.Key] = true
		if cat.Name == "" && cat.NameEN == "" {
			v.add(k+".name", "must not be empty")
		}
		if cat.TargetHours < 1 {
			v.add(k+".target_hours", "must be at least 1")
		}
		if cat.Assignee != "" && !names[cat.Assignee] {
			v.add(k+".assignee", "%q is not in staff", cat.Assignee)
		}
	}
	seen = map[string]bool{}
	for i, s := range c.Services {
		k := fmt.Sprintf("services[%d]", i)
		if !keyRe.MatchString(s.Key) {
			v.add(k+".key", "must be lower-case letters, digits and _, got %q", s.Key)
		}
		if seen[s.Key] {
			v.add(k+".key", "%q appears twice", s.Key)
		}
		seen[s.Key] = true
		if s.Name == "" {
			v.add(k+".name", "must not be empty")
		}
		if s.Capacity < 1 {
			v.add(k+".capacity", "must be at least 1")
		}
		checkDescriptions(v, k, s.Description, s.DescriptionEN)
		if s.DaysAhead < 1 {
			v.add(k+".days_ahead", "must be at least 1")
		}
		if s.CancelCutoff < 0 {
			v.add(k+".cancel_cutoff", "must not be negative")
		}
		if len(s.Slots) == 0 {
			v.add(k+".slots", "at least one slot rule is needed")
		}
		for j, r := range s.Slots {
			rk := fmt.Sprintf("%s.slots[%d]", k, j)
			for d, day := range r.Days {
				if !dayRe.MatchString(day) {
					v.add(fmt.Sprintf("%s.days[%d]", rk, d), "must be one of mon tue wed thu fri sat sun, got %q", day)
				}
			}
			if len(r.Days) == 0 {
				v.add(rk+".days", "at least one day is needed")
			}
			if !clockRe.MatchString(r.From) {
				v.add(rk+".from", "must be a time such as 09:00, got %q", r.From)
			}
			if !clockRe.MatchString(r.To) {
				v.add(rk+".to", "must be a time such as 11:00, got %q", r.To)
			}
			if clockRe.MatchString(r.From) && clockRe.MatchString(r.To) && r.To <= r.From {
				v.add(rk+".to", "must be after from")
			}
			if r.Every < 5*time.Minute {
				v.add(rk+".every", "must be at least 5m")
			}
		}
	}
	seen = map[string]bool{}
	for i, e := range c.Events {
		k := fmt.Sprintf("events[%d]", i)
		if !keyRe.MatchString(e.Key) {
			v.add(k+".key", "must be lower-case letters, digits and _, got %q", e.Key)
		}
		if seen[e.Key] {
			v.add(k+".key", "%q appears twice", e.Key)
		}
		seen[e.Key] = true
		if e.Kind != "" && !keyRe.MatchString(e.Kind) {
			v.add(k+".kind", "must be lower-case letters, digits and _ (e.g. training), got %q", e.Kind)
		}
		if e.Title == "" {
			v.add(k+".title", "must not be empty")
		}
		start, err := time.Parse("2006-01-02 15:04", e.Start)
		if err != nil {
			v.add(k+".start", "must look like 2026-12-20 19:00, got %q", e.Start)
		}
		if end, err := time.Parse("2006-01-02 15:04", e.End); e.End != "" && (err != nil || !end.After(start)) {
			v.add(k+".end", "must look like 2026-12-20 21:00 and come after start")
		}
		if dl, err := time.Parse("2006-01-02 15:04", e.Deadline); e.Deadline != "" && err != nil {
			v.add(k+".deadline", "must look like 2026-12-19 18:00, got %q", e.Deadline)
		} else if e.Deadline != "" && dl.After(start) {
			v.add(k+".deadline", "must not be after start")
		}
		if e.Capacity < 1 {
			v.add(k+".capacity", "must be at least 1")
		}
		if e.Companions < 0 || e.Companions > 2 {
			v.add(k+".companions", "must be 0, 1 or 2")
		}
		checkDescriptions(v, k, e.Description, e.DescriptionEN)
	}
	for i, t := range c.Targets {
		k := fmt.Sprintf("targets[%d]", i)
		if !keyRe.MatchString(t.Key) {
			v.add(k+".key", "must be lower-case letters, digits and _, got %q", t.Key)
		}
		if t.EventKind != "" && !keyRe.MatchString(t.EventKind) {
			v.add(k+".event_kind", "must be lower-case letters, digits and _ (e.g. training), got %q", t.EventKind)
		}
		if t.Metric != "person_times" && t.Metric != "events" {
			v.add(k+".metric", "must be person_times or events, got %q", t.Metric)
		}
		if t.Goal < 1 {
			v.add(k+".goal", "must be at least 1")
		}
		from, err1 := time.Parse("2006-01-02", t.From)
		to, err2 := time.Parse("2006-01-02", t.To)
		if err1 != nil {
			v.add(k+".from", "must be a date such as 2026-01-01, got %q", t.From)
		}
		if err2 != nil || (err1 == nil && !to.After(from)) {
			v.add(k+".to", "must be a date after from, got %q", t.To)
		}
	}
}

// uploadDir is where the web chat keeps photos.
func (c Config) uploadDir() string {
	if c.Server.UploadDir != "" {
		return c.Server.UploadDir
	}
	return filepath.Join(filepath.Dir(c.Store.Path), "uploads")
}

// maxDescription bounds a service's or event's description (either
// language), as /event new does: it is shown in a chat message.
const maxDescription = 500

func checkDescriptions(v *validator, k, zh, en string) {
	if n := utf8.RuneCountInString(zh); n > maxDescription {
		v.add(k+".description", "must be at most %d characters, got %d", maxDescription, n)
	}
	if n := utf8.RuneCountInString(en); n > maxDescription {
		v.add(k+".description_en", "must be at most %d characters, got %d", maxDescription, n)
	}
}

// flowsConfig is the part of the config the conversations read.
func (c Config) flowsConfig() flows.Config {
	fc := flows.Config{Community: c.Community, Staff: c.Staff, Categories: c.Categories,
		Services: c.Services, Events: c.Events, Targets: c.Targets, PublicURL: c.Server.PublicURL,
		MessageRetentionDays: c.Store.MessageRetentionDays, QuietHours: c.SMS.QuietHours}
	if c.Telegram.Enabled && c.Telegram.StaffChatID != 0 {
		fc.DeskChats = append(fc.DeskChats, flows.DeskChat{Channel: "telegram", Address: strconv.FormatInt(c.Telegram.StaffChatID, 10)})
	}
	return fc
}
