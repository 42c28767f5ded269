package main

import (
	"fmt"
	"math"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// The test types mirror the shape of linli's config (nested sections,
// lists of records, maps of template ids) and add one field of every other
// kind decodeStrict supports.
type tConfig struct {
	Community tCommunity         `yaml:"community"`
	Server    tServer            `yaml:"server"`
	Telegram  *tTelegram         `yaml:"telegram"`
	SMS       tSMS               `yaml:"sms"`
	Staff     []tStaff           `yaml:"staff"`
	Cats      []tCategory        `yaml:"categories"`
	Extra     map[string]tStaff  `yaml:"extra"`
	Nums      tNums              `yaml:"nums"`
	Level     tLevel             `yaml:"level"`
	LevelPtr  *tLevel            `yaml:"level_ptr"`
	Addr      netip.Addr         `yaml:"addr"`
	Pair      [2]int             `yaml:"pair"`
	Any       any                `yaml:"any"`
	Raw       yaml.Node          `yaml:"raw"`
	Tree      *tTree             `yaml:"tree"`
	Counts    map[int]string     `yaml:"counts"`
	Inline    tInlineHolder      `yaml:"inline"`
	Loose     tLooseHolder       `yaml:"loose"`
	Skipped   string             `yaml:"-"`
	NoTag     string             // yaml.v3 names it "notag"
	Waits     map[string]*tTimer `yaml:"waits"`
}

type tCommunity struct {
	Name     string `yaml:"name"`
	Language string `yaml:"language"`
}

type tServer struct {
	Listen   string        `yaml:"listen"`
	DevPages bool          `yaml:"dev_pages"`
	Timeout  time.Duration `yaml:"timeout"`
}

type tTelegram struct {
	Enabled    bool   `yaml:"enabled"`
	Token      string `yaml:"token"`
	APIBaseURL string `yaml:"api_base_url"`
	StaffChat  int64  `yaml:"staff_chat_id"`
}

type tSMS struct {
	RatePerSecond int     `yaml:"rate_per_second"`
	Aliyun        tAliyun `yaml:"aliyun"`
}

type tAliyun struct {
	Templates map[string]string `yaml:"templates"`
}

type tStaff struct {
	Name  string `yaml:"name"`
	Role  string `yaml:"role"`
	Phone string `yaml:"phone"`
}

type tCategory struct {
	Key         string  `yaml:"key"`
	TargetHours int     `yaml:"target_hours"`
	Weight      float64 `yaml:"weight"`
}

type tNums struct {
	I8  int8    `yaml:"i8"`
	I64 int64   `yaml:"i64"`
	U8  uint8   `yaml:"u8"`
	U   uint    `yaml:"u"`
	F32 float32 `yaml:"f32"`
	F64 float64 `yaml:"f64"`
}

type tTimer struct {
	Every time.Duration `yaml:"every"`
}

type tTree struct {
	Name string  `yaml:"name"`
	Kids []tTree `yaml:"kids"`
}

type tInlineHolder struct {
	tInlineBase `yaml:",inline"`
	More        *tInlineMore `yaml:",inline"`
	Own         string       `yaml:"own"`
}

type tInlineMore struct {
	Extra int `yaml:"extra"`
}

type tInlineBase struct {
	Shared string `yaml:"shared"`
}

type tLooseHolder struct {
	Known string            `yaml:"known"`
	Rest  map[string]string `yaml:",inline"`
}

// tLevel implements yaml.Unmarshaler to check that such fields get the node
// and that their errors are reported at its line.
type tLevel int

func (l *tLevel) UnmarshalYAML(n *yaml.Node) error {
	switch n.Value {
	case "low":
		*l = 1
	case "high":
		*l = 2
	case "decode":
		var i int
		return n.Decode(&i) // yields a *yaml.TypeError with "line N:" text
	default:
		return fmt.Errorf("unknown level %q (want low or high)", n.Value)
	}
	return nil
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{"c.yaml", 3, "telegram.token", "unknown key"}, "c.yaml:3: telegram.token: unknown key"},
		{Problem{"c.yaml", 3, "", "did not find expected key"}, "c.yaml:3: did not find expected key"},
		{Problem{"c.yaml", 0, "", "control characters are not allowed"}, "c.yaml: control characters are not allowed"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

// decodeProblems runs decodeStrict on src and returns its problems as strings.
func decodeProblems(src string, out any) []string {
	probs, _ := decodeStrict("c.yaml", []byte(src), out)
	got := []string{}
	for _, p := range probs {
		got = append(got, p.String())
	}
	return got
}

func TestDecodeStrictProblems(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"empty file", "", nil},
		{"comments only", "# nothing yet\n", nil},
		{"empty document", "---\n", nil},
		{"null document", "~\n", nil},
		{"syntax error", "server:\n  listen: a\n   dev_pages: true\n", []string{
			"c.yaml:3: mapping values are not allowed in this context",
		}},
		{"unclosed flow list", "community:\n  name: [x\n", []string{
			"c.yaml:2: did not find expected ',' or ']'",
		}},
		{"unclosed flow list further down", "community:\n  name: a\n\nx: [1, 2\ny: 3\n", []string{
			"c.yaml:4: did not find expected ',' or ']'",
		}},
		// yaml.v3 names the line where the list being parsed starts.
		{"block list item out of place", "staff:\n  - name: a\n  role: b\n", []string{
			"c.yaml:2: did not find expected '-' indicator",
		}},
		{"syntax error without a line", "server: *nope\n", []string{
			"c.yaml: unknown anchor 'nope' referenced",
		}},
		{"top level list", "- a\n- b\n", []string{
			"c.yaml:1: expected a mapping of keys at the top level, got a list",
		}},
		{"top level scalar", "\n\nhello\n", []string{
			"c.yaml:3: expected a mapping of keys at the top level, got a string",
		}},
		{"second document", "server:\n  listen: a\n---\nserver:\n  listen: b\n", []string{
			`c.yaml:4: only one YAML document is allowed; remove the "---" and what follows it`,
		}},
		{"trailing document marker", "server:\n  listen: a\n---\n", nil},
		{"syntax error in second document", "server: {}\n---\n- [\n", []string{
			"c.yaml:3: did not find expected node content",
		}},
		{"unknown top-level key", "servr:\n  listen: a\n", []string{
			`c.yaml:1: servr: unknown key (did you mean "server"?)`,
		}},
		{"unknown nested key with suggestion", "telegram:\n  token: x\n  api_base_ur: http://x\n", []string{
			`c.yaml:3: telegram.api_base_ur: unknown key (did you mean "api_base_url"?)`,
		}},
		{"suggestion ignores case and dashes", "telegram:\n  API-Base-URL: http://x\n", []string{
			`c.yaml:2: telegram.API-Base-URL: unknown key (did you mean "api_base_url"?)`,
		}},
		{"unknown key too far for a suggestion", "telegram:\n  colour: blue\n", []string{
			"c.yaml:2: telegram.colour: unknown key",
		}},
		{"short key needs a close match", "nums:\n  i9: 1\n  xy: 2\n", []string{
			`c.yaml:2: nums.i9: unknown key (did you mean "i8"?)`,
			"c.yaml:3: nums.xy: unknown key",
		}},
		{"ignored field is unknown", "Skipped: x\nskipped: y\n", []string{
			"c.yaml:1: Skipped: unknown key",
			"c.yaml:2: skipped: unknown key",
		}},
		{"unknown key in a list element", "staff:\n  - name: A\n  - name: B\n    phon: 1\n", []string{
			`c.yaml:4: staff[1].phon: unknown key (did you mean "phone"?)`,
		}},
		{"unknown key inside a map value", "extra:\n  k:\n    nmae: x\n", []string{
			`c.yaml:3: extra.k.nmae: unknown key (did you mean "name"?)`,
		}},
		{"integer", "sms:\n  rate_per_second: abc\n", []string{
			`c.yaml:2: sms.rate_per_second: expected an integer, got "abc"`,
		}},
		{"integer not a fraction", "categories:\n  - key: a\n  - key: b\n  - key: c\n    target_hours: 1.5\n", []string{
			`c.yaml:5: categories[2].target_hours: expected an integer, got "1.5"`,
		}},
		{"bool", "server:\n  dev_pages: yes please\n", []string{
			`c.yaml:2: server.dev_pages: expected true or false, got "yes please"`,
		}},
		{"list got mapping", "staff:\n  name: A\n", []string{
			"c.yaml:2: staff: expected a list, got a mapping",
		}},
		{"list got scalar", "staff: A\n", []string{
			"c.yaml:1: staff: expected a list, got a string",
		}},
		{"mapping got string", "telegram: on\nserver: x\nsms: 5\n", []string{
			"c.yaml:1: telegram: expected a mapping, got a string",
			"c.yaml:2: server: expected a mapping, got a string",
			"c.yaml:3: sms: expected a mapping, got an integer",
		}},
		{"map got list", "sms:\n  aliyun:\n    templates: [a]\n", []string{
			"c.yaml:3: sms.aliyun.templates: expected a mapping, got a list",
		}},
		{"string got mapping", "community:\n  name: {a: b}\n", []string{
			"c.yaml:2: community.name: expected a string, got a mapping",
		}},
		{"integer got list", "sms:\n  rate_per_second:\n    - 1\n", []string{
			"c.yaml:3: sms.rate_per_second: expected an integer, got a list",
		}},
		{"duration", "server:\n  timeout: 30\n", []string{
			`c.yaml:2: server.timeout: expected a duration such as 30m, got "30"`,
		}},
		{"duration got list", "server:\n  timeout: [1m]\n", []string{
			"c.yaml:2: server.timeout: expected a duration such as 30m, got a list",
		}},
		{"duration in map of pointers", "waits:\n  a:\n    every: soon\n", []string{
			`c.yaml:3: waits.a.every: expected a duration such as 30m, got "soon"`,
		}},
		{"number ranges", strings.Join([]string{
			"nums:",
			"  i8: 128",
			"  i64: 9223372036854775808",
			"  u8: 256",
			"  u: -1",
			"  f32: 1e39",
			"  f64: 1e400",
		}, "\n"), []string{
			`c.yaml:2: nums.i8: expected an integer from -128 to 127, got "128"`,
			`c.yaml:3: nums.i64: expected an integer from -9223372036854775808 to 9223372036854775807, got "9223372036854775808"`,
			`c.yaml:4: nums.u8: expected an integer from 0 to 255, got "256"`,
			`c.yaml:5: nums.u: expected an integer from 0 to 18446744073709551615, got "-1"`,
			`c.yaml:6: nums.f32: expected a number within range, got "1e39"`,
			`c.yaml:7: nums.f64: expected a number within range, got "1e400"`,
		}},
		{"not numbers", "nums:\n  u8: x\n  f64: 0x10\n  i8: Inf\n", []string{
			`c.yaml:2: nums.u8: expected a non-negative integer, got "x"`,
			`c.yaml:3: nums.f64: expected a number, got "0x10"`,
			`c.yaml:4: nums.i8: expected an integer, got "Inf"`,
		}},
		{"long values are shortened", "sms:\n  rate_per_second: " + strings.Repeat("x", 50) + "\n", []string{
			`c.yaml:2: sms.rate_per_second: expected an integer, got "` + strings.Repeat("x", 40) + `…"`,
		}},
		{"duplicate top-level key", "server:\n  listen: a\nserver:\n  listen: b\n", []string{
			"c.yaml:3: server: duplicate key (first given on line 1)",
		}},
		{"duplicate nested key", "sms:\n  aliyun:\n    templates:\n      notice: A\n      notice: B\n", []string{
			"c.yaml:5: sms.aliyun.templates.notice: duplicate key (first given on line 4)",
		}},
		{"unmarshaler error at its line", "\nlevel: medium\n", []string{
			`c.yaml:2: level: unknown level "medium" (want low or high)`,
		}},
		{"unmarshaler through a pointer", "level_ptr: medium\n", []string{
			`c.yaml:1: level_ptr: unknown level "medium" (want low or high)`,
		}},
		{"unmarshaler yaml.TypeError keeps its line", "\n\nlevel: decode\n", []string{
			"c.yaml:3: level: cannot unmarshal !!str `decode` into int",
		}},
		{"text unmarshaler", "addr: 1.2.3\n", []string{
			`c.yaml:1: addr: ParseAddr("1.2.3"): IPv4 address too short`,
		}},
		{"text unmarshaler got mapping", "addr: {a: 1}\n", []string{
			"c.yaml:1: addr: expected a single value, got a mapping",
		}},
		{"array length", "pair: [1, 2, 3]\n", []string{
			"c.yaml:1: pair: expected a list of 2 items, got 3",
		}},
		{"array element", "pair: [1, x]\n", []string{
			`c.yaml:1: pair[1]: expected an integer, got "x"`,
		}},
		{"map with integer keys", "counts:\n  1: a\n  x: b\n", []string{
			`c.yaml:3: counts.x: expected an integer, got "x"`,
		}},
		{"key that is not a name", "server:\n  ? [a]\n  : 1\n", []string{
			"c.yaml:2: server: expected a key name, got a list",
		}},
		{"inline struct", "inline:\n  shared: a\n  own: b\n  shard: c\n  extra: x\n", []string{
			`c.yaml:4: inline.shard: unknown key (did you mean "shared"?)`,
			`c.yaml:5: inline.extra: expected an integer, got "x"`,
		}},
		{"kinds of scalar named", "telegram: true\nserver: 1.5\nsms: 2024-01-01\nstaff: ~\npair: x\nextra: [a]\ncounts: 5\n", []string{
			"c.yaml:1: telegram: expected a mapping, got a boolean",
			"c.yaml:2: server: expected a mapping, got a number",
			"c.yaml:3: sms: expected a mapping, got a date",
			"c.yaml:5: pair: expected a list, got a string",
			"c.yaml:6: extra: expected a mapping, got a list",
			"c.yaml:7: counts: expected a mapping, got an integer",
		}},
		{"alias as a key", "community:\n  name: &k language\n  *k : en\n  *k : zh\n", []string{
			"c.yaml:4: community.language: duplicate key (first given on line 3)",
		}},
		{"nested merges", strings.Join([]string{
			"community:",
			"  name: &base {listen: a, dev_pages: [x]}",
			"server:",
			"  <<: {<<: *base, timeout: 1h}",
			"  listen: b",
			"  <<: [*base, 1]",
		}, "\n"), []string{
			"c.yaml:2: community.name: expected a string, got a mapping",
			"c.yaml:2: server.dev_pages: expected true or false, got a list",
			"c.yaml:6: server.<<: duplicate key (first given on line 4)",
		}},
		{"array got mapping", "pair: {a: 1}\n", []string{
			"c.yaml:1: pair: expected a list, got a mapping",
		}},
		{"map key through a merge keeps its path", "sms:\n  aliyun:\n    templates: {<<: {a: [x]}}\n", []string{
			"c.yaml:3: sms.aliyun.templates.a: expected a string, got a list",
		}},
		{"inline map takes unknown keys", "loose:\n  known: a\n  other: b\n  bad: [1]\n", []string{
			"c.yaml:4: loose.bad: expected a string, got a list",
		}},
		{"bad merge value", "server:\n  <<: 5\n", []string{
			"c.yaml:2: server.<<: a merge key needs a mapping or a list of mappings",
		}},
		{"problems in merged keys are sorted by line", strings.Join([]string{
			"community: &c",
			"  name: 5",
			"  language: [x]",
			"server:",
			"  dev_pages: maybe",
			"  <<: *c",
		}, "\n"), []string{
			"c.yaml:2: server.name: unknown key",
			"c.yaml:3: community.language: expected a string, got a list",
			"c.yaml:3: server.language: unknown key",
			`c.yaml:5: server.dev_pages: expected true or false, got "maybe"`,
		}},
		{"alias value reported where used", "community:\n  name: &n [x]\nserver:\n  listen: *n\n", []string{
			"c.yaml:2: community.name: expected a string, got a list",
			"c.yaml:4: server.listen: expected a string, got a list",
		}},
		{"self-referencing anchor", "tree: &t\n  name: x\n  kids: [*t]\n", []string{
			"c.yaml:2: too deeply nested or too many aliases; stopped checking here",
		}},
		{"alias bomb", strings.Join([]string{
			"x:",
			"  a: &a {kids: [{}, {}, {}, {}, {}, {}, {}, {}, {}, {}]}",
			"  b: &b {kids: [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]}",
			"  c: &c {kids: [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]}",
			"  d: &d {kids: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]}",
			"  e: &e {kids: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]}",
			"tree: *e",
		}, "\n"), []string{
			"c.yaml:1: x: unknown key",
			"c.yaml:2: too deeply nested or too many aliases; stopped checking here",
		}},
		{"self-merging mapping", "server: &s\n  listen: x\n  <<: *s\n", nil},
		{"many problems at once", strings.Join([]string{
			"community:",
			"  nmae: x",
			"server:",
			"  dev_pages: 2",
			"telegram:",
			"  staff_chat_id: group",
			"staff:",
			"  - name: A",
			"    role: [admin]",
			"bogus: 1",
		}, "\n"), []string{
			`c.yaml:2: community.nmae: unknown key (did you mean "name"?)`,
			`c.yaml:4: server.dev_pages: expected true or false, got "2"`,
			`c.yaml:6: telegram.staff_chat_id: expected an integer, got "group"`,
			"c.yaml:9: staff[0].role: expected a string, got a list",
			"c.yaml:10: bogus: unknown key",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg tConfig
			got := decodeProblems(tt.src, &cfg)
			if !slices.Equal(got, append([]string{}, tt.want...)) {
				t.Errorf("problems:\n got  %q\n want %q", got, tt.want)
			}
		})
	}
}

func TestDecodeStrictValues(t *testing.T) {
	src := `community:
  name: 普惠苑社区
server:
  listen: 127.0.0.1:8080
  dev_pages: yes
  timeout: 4s
telegram:
  token: "123:abc"
  staff_chat_id: -1001234567890
sms:
  rate_per_second: "50"
  aliyun:
    templates:
      notice: SMS_1
staff:
  - &wang
    name: 王主任
    role: admin
  - <<: *wang
    name: 李
nums:
  i8: 0x10
  i64: "0755"
  u8: +7
  f32: .inf
  f64: 2.5e-1
categories:
  - ~
  - {key: k, weight: -.inf}
level: high
level_ptr: low
addr: 10.0.0.1
pair: [3, 4]
any: {a: [1, two]}
raw: [x, y]
tree: {name: root, kids: [{name: leaf}]}
counts: {7: seven}
inline: {shared: s, own: o}
loose: {known: k, other: v}
notag: n
waits: {a: {every: 1m}}
`
	var cfg tConfig
	if probs, _ := decodeStrict("c.yaml", []byte(src), &cfg); len(probs) != 0 {
		t.Fatalf("unexpected problems: %v", probs)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"community.name", cfg.Community.Name, "普惠苑社区"},
		{"server.dev_pages", cfg.Server.DevPages, true},
		{"server.timeout", cfg.Server.Timeout, 4 * time.Second},
		{"telegram.token", cfg.Telegram.Token, "123:abc"},
		{"telegram.staff_chat_id", cfg.Telegram.StaffChat, int64(-1001234567890)},
		{"sms.rate_per_second", cfg.SMS.RatePerSecond, 50},
		{"sms.aliyun.templates", cfg.SMS.Aliyun.Templates, map[string]string{"notice": "SMS_1"}},
		{"staff", cfg.Staff, []tStaff{{Name: "王主任", Role: "admin"}, {Name: "李", Role: "admin"}}},
		{"nums", cfg.Nums, tNums{I8: 16, I64: 755, U8: 7, F32: float32(math.Inf(1)), F64: 0.25}},
		{"categories", cfg.Cats, []tCategory{{}, {Key: "k", Weight: math.Inf(-1)}}},
		{"level", cfg.Level, tLevel(2)},
		{"level_ptr", *cfg.LevelPtr, tLevel(1)},
		{"addr", cfg.Addr, netip.MustParseAddr("10.0.0.1")},
		{"pair", cfg.Pair, [2]int{3, 4}},
		{"any", cfg.Any, map[string]any{"a": []any{1, "two"}}},
		{"raw", cfg.Raw.Kind, yaml.SequenceNode},
		{"tree", *cfg.Tree, tTree{Name: "root", Kids: []tTree{{Name: "leaf"}}}},
		{"counts", cfg.Counts, map[int]string{7: "seven"}},
		{"inline", cfg.Inline, tInlineHolder{tInlineBase: tInlineBase{"s"}, Own: "o"}},
		{"loose", cfg.Loose, tLooseHolder{Known: "k", Rest: map[string]string{"other": "v"}}},
		{"notag", cfg.NoTag, "n"},
		{"waits", *cfg.Waits["a"], tTimer{Every: time.Minute}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
}

// Defaults filled in before decoding must survive absent keys, null and
// empty values, and values that fail to decode.
func TestDecodeStrictKeepsDefaults(t *testing.T) {
	cfg := tConfig{
		Community: tCommunity{Name: "default", Language: "zh-CN"},
		Server:    tServer{Listen: "127.0.0.1:8080", DevPages: true, Timeout: time.Minute},
		Telegram:  &tTelegram{APIBaseURL: "https://api.telegram.org"},
		SMS:       tSMS{RatePerSecond: 50, Aliyun: tAliyun{Templates: map[string]string{"notice": "N", "reminder": "R"}}},
		Staff:     []tStaff{{Name: "default staff"}},
		Extra:     map[string]tStaff{"k": {Name: "kept", Role: "staff"}},
	}
	src := `community:
  name: 普惠苑
  language: ~
server:
  listen:
  timeout: never
telegram:
  token: t
sms:
  rate_per_second: null
  aliyun:
    templates:
      reminder: R2
extra:
  k:
    role: admin
`
	got := decodeProblems(src, &cfg)
	want := []string{`c.yaml:6: server.timeout: expected a duration such as 30m, got "never"`}
	if !slices.Equal(got, want) {
		t.Fatalf("problems = %q, want %q", got, want)
	}
	wantCfg := tConfig{
		Community: tCommunity{Name: "普惠苑", Language: "zh-CN"},
		Server:    tServer{Listen: "127.0.0.1:8080", DevPages: true, Timeout: time.Minute},
		Telegram:  &tTelegram{Token: "t", APIBaseURL: "https://api.telegram.org"},
		SMS:       tSMS{RatePerSecond: 50, Aliyun: tAliyun{Templates: map[string]string{"notice": "N", "reminder": "R2"}}},
		Staff:     []tStaff{{Name: "default staff"}},
		Extra:     map[string]tStaff{"k": {Name: "kept", Role: "admin"}},
	}
	if !reflect.DeepEqual(cfg, wantCfg) {
		t.Errorf("config =\n %+v\nwant\n %+v", cfg, wantCfg)
	}
}

func TestDecodeStrictListReplacesDefault(t *testing.T) {
	cfg := tConfig{Staff: []tStaff{{Name: "a"}, {Name: "b"}}}
	if got := decodeProblems("staff:\n  - name: c\n", &cfg); len(got) != 0 {
		t.Fatalf("problems: %q", got)
	}
	if want := []tStaff{{Name: "c"}}; !reflect.DeepEqual(cfg.Staff, want) {
		t.Errorf("staff = %+v, want %+v", cfg.Staff, want)
	}
}

func TestDecodeStrictBadTarget(t *testing.T) {
	var cfg tConfig
	for _, out := range []any{nil, cfg, (*tConfig)(nil)} {
		probs, _ := decodeStrict("c.yaml", []byte("a: 1\n"), out)
		if len(probs) != 1 || !strings.HasPrefix(probs[0].Msg, "internal error: decodeStrict needs a non-nil pointer") {
			t.Errorf("decodeStrict(%T) problems = %v", out, probs)
		}
	}
}

func TestKeyLines(t *testing.T) {
	src := `community:
  name: x
telegram:
  token: t

staff:
  - name: A
  - name: B
    phone: "1"
sms:
  aliyun:
    templates:
      notice: N
categories:
  - key: a
  -
    key: b
    target_hours: 4
`
	var cfg tConfig
	probs, lines := decodeStrict("c.yaml", []byte(src), &cfg)
	if len(probs) != 0 {
		t.Fatalf("problems: %v", probs)
	}
	tests := []struct {
		path    string
		line    int
		nearest int
	}{
		{"community", 1, 1},
		{"telegram.token", 4, 4},
		{"staff", 6, 6},
		{"staff[1]", 8, 8},
		{"staff[1].phone", 9, 9},
		{"sms.aliyun.templates.notice", 13, 13},
		{"categories[1]", 17, 17}, // an item starts at its content, not at a bare "-"
		{"categories[1].target_hours", 18, 18},
		{"telegram.enabled", 0, 3},
		{"staff[1].role", 0, 8},
		{"staff[5].role", 0, 6},
		{"server.listen", 0, 1},
	}
	for _, tt := range tests {
		if got := lines.lineOf(tt.path); got != tt.line {
			t.Errorf("lineOf(%q) = %d, want %d", tt.path, got, tt.line)
		}
		if got := lines.nearestLine(tt.path); got != tt.nearest {
			t.Errorf("nearestLine(%q) = %d, want %d", tt.path, got, tt.nearest)
		}
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"abc", "", 3},
		{"kitten", "sitting", 3},
		{"api_base_ur", "api_base_url", 1},
		{"名字", "名称", 1},
		{"nmae", "name", 1}, // a swap of neighbours is one slip
		{"ab", "ba", 1},
		{"ca", "abc", 3},
	}
	for _, tt := range tests {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

// FuzzDecodeStrict checks that no input makes decodeStrict panic, hang or
// answer inconsistently: problems come sorted by line, all name the file,
// and the same input gives the same problems.
func FuzzDecodeStrict(f *testing.F) {
	f.Add([]byte("server:\n  listen: a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var a, b tConfig
		pa, _ := decodeStrict("f.yaml", data, &a)
		pb, _ := decodeStrict("f.yaml", data, &b)
		if !slices.Equal(pa, pb) {
			t.Fatalf("not deterministic:\n%v\n%v", pa, pb)
		}
		if !slices.IsSortedFunc(pa, func(x, y Problem) int { return x.Line - y.Line }) {
			t.Fatalf("problems not sorted by line: %v", pa)
		}
		for _, p := range pa {
			if !strings.HasPrefix(p.String(), "f.yaml") || p.Msg == "" || p.Line < 0 {
				t.Fatalf("malformed problem %#v", p)
			}
		}
	})
}

// tOdd gathers field types a config should not have, to check that they
// are reported (or ignored) rather than making reflect panic.
type tOdd struct {
	Ch       chan int          `yaml:"ch"`
	Stringer fmt.Stringer      `yaml:"stringer"`
	PtrMap   *map[string]int   `yaml:",inline"`
	private  map[string]string `yaml:",inline"`
	Named    map[tName]string  `yaml:",inline"`
}

type tName string

func TestDecodeStrictOddTypes(t *testing.T) {
	var odd tOdd
	got := decodeProblems("ch: 1\nstringer: x\nother: y\n", &odd)
	want := []string{
		"c.yaml:1: ch: internal error: cannot decode into chan int",
		"c.yaml:2: stringer: internal error: cannot decode into fmt.Stringer",
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems = %q, want %q", got, want)
	}
	if odd.Named["other"] != "y" || odd.private != nil || odd.PtrMap != nil {
		t.Errorf("inline maps = %v, %v, %v", odd.Named, odd.private, odd.PtrMap)
	}
}
