package flows

import "time"

// Config is the part of the config file the conversations need. cmd/linli
// composes it from the `community`, `staff`, `categories`, `services`,
// `events` and `targets` sections.
type Config struct {
	Community  Community
	Staff      []StaffMember
	Categories []Category
	Services   []Service
	Events     []EventSpec
	Targets    []Target
	// PublicURL is server.public_url: links in messages (check-in QR images)
	// start with it. Empty: no links.
	PublicURL string
	// MessageRetentionDays is store.message_retention_days, told to
	// residents in the consent notice (0: kept until they erase them).
	MessageRetentionDays int
	// DeskChats are the group chats that receive the desk's alerts (the
	// Telegram staff group); WeChat staff are alerted one by one from Staff.
	DeskChats []DeskChat
	// QuietHours is sms.quiet_hours ("21:00-08:00", community time; empty:
	// none). A freed place offered during them is held from their end.
	QuietHours string
}

// Community is the `community` section.
type Community struct {
	Name     string `yaml:"name"`
	Timezone string `yaml:"timezone"`
	Language string `yaml:"language"`
	// Phone is the office's number, given when a resident asks for a person.
	Phone string `yaml:"phone"`
	// FlowIdle is how long a flow may wait for the resident before it expires.
	FlowIdle time.Duration `yaml:"flow_idle"`
	// ResumeWithin is how long an expired flow can still be resumed with 继续/continue.
	ResumeWithin time.Duration `yaml:"resume_within"`
	// RequireConsent asks every new resident to consent to the processing
	// of their personal data before anything of theirs is kept (PIPL).
	RequireConsent bool `yaml:"require_consent"`
}

// StaffMember is one entry of `staff`.
type StaffMember struct {
	Name         string `yaml:"name"`
	Role         string `yaml:"role"` // admin | staff
	TelegramID   int64  `yaml:"telegram_id"`
	WeChatOpenID string `yaml:"wechat_openid"`
	Phone        string `yaml:"phone"`
}

// Category is one report category.
type Category struct {
	Key         string `yaml:"key"`
	Name        string `yaml:"name"`
	NameEN      string `yaml:"name_en"`
	TargetHours int    `yaml:"target_hours"` // response target
	Assignee    string `yaml:"assignee"`     // staff name alerted first; empty: the whole staff group
}

// Service is one bookable service.
type Service struct {
	Key          string        `yaml:"key"`
	Name         string        `yaml:"name"`
	NameEN       string        `yaml:"name_en"`
	Place        string        `yaml:"place"`
	PlaceEN      string        `yaml:"place_en"`
	Description  string        `yaml:"description"`
	Slots        []SlotRule    `yaml:"slots"`
	Capacity     int           `yaml:"capacity"`      // places per slot
	DaysAhead    int           `yaml:"days_ahead"`    // how far ahead residents may book
	CancelCutoff time.Duration `yaml:"cancel_cutoff"` // no cancelling closer than this to the slot

	// DescriptionEN is shown to English residents; empty: Description.
	DescriptionEN string `yaml:"description_en"`
}

// SlotRule is a weekly pattern of slots: on Days, from From to To, one slot every Every.
type SlotRule struct {
	Days  []string      `yaml:"days"` // mon tue wed thu fri sat sun
	From  string        `yaml:"from"` // 09:00
	To    string        `yaml:"to"`   // 11:00
	Every time.Duration `yaml:"every"`
}

// EventSpec is an event known in advance, from `events`.
type EventSpec struct {
	Key         string `yaml:"key"`
	Title       string `yaml:"title"`
	TitleEN     string `yaml:"title_en"`
	Kind        string `yaml:"kind"`  // show, training, patrol, …
	Start       string `yaml:"start"` // 2026-12-20 19:00, community time
	End         string `yaml:"end"`
	Place       string `yaml:"place"`
	Capacity    int    `yaml:"capacity"`
	Deadline    string `yaml:"deadline"`   // registration closes; empty: at the start
	Companions  int    `yaml:"companions"` // companions a resident may bring (0–2)
	Description string `yaml:"description"`
	// DescriptionEN is shown to English residents; empty: Description.
	DescriptionEN string `yaml:"description_en"`
}

// Target is a promise of the work plan, shown with its progress in /stats.
type Target struct {
	Key       string `yaml:"key"`
	Name      string `yaml:"name"`
	NameEN    string `yaml:"name_en"`
	EventKind string `yaml:"event_kind"` // counts attendance at events of this kind
	Metric    string `yaml:"metric"`     // person_times | events
	Goal      int    `yaml:"goal"`
	From      string `yaml:"from"` // 2026-01-01
	To        string `yaml:"to"`   // 2027-12-31
}

// withDefaults fills what an operator may leave out.
func (c Config) withDefaults() Config {
	if c.Community.FlowIdle <= 0 {
		c.Community.FlowIdle = 30 * time.Minute
	}
	if c.Community.ResumeWithin <= 0 {
		c.Community.ResumeWithin = 24 * time.Hour
	}
	if c.Community.Language == "" {
		c.Community.Language = "zh-CN"
	}
	return c
}

// category finds a category by key.
func (c Config) category(key string) (Category, bool) {
	for _, cat := range c.Categories {
		if cat.Key == key {
			return cat, true
		}
	}
	return Category{}, false
}

// staffByIdentity finds the staff member behind a channel identity.
func (c Config) staffByIdentity(channel, id string) (StaffMember, bool) {
	for _, s := range c.Staff {
		switch {
		case channel == "telegram" && s.TelegramID != 0 && id == itoa64(s.TelegramID):
			return s, true
		case channel == "wechat" && s.WeChatOpenID != "" && id == s.WeChatOpenID:
			return s, true
		}
	}
	return StaffMember{}, false
}
