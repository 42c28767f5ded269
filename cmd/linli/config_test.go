package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func noEnv(string) string { return "" }

// exampleWith returns the example config with old replaced by new.
func exampleWith(t *testing.T, old, new string) string {
	t.Helper()
	b, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if !strings.Contains(s, old) {
		t.Fatalf("example lacks %q", old)
	}
	return strings.Replace(s, old, new, 1)
}

// lineOf is the 1-based line of the first occurrence of s in body.
func lineOf(t *testing.T, body, s string) int {
	t.Helper()
	i := strings.Index(body, s)
	if i < 0 {
		t.Fatalf("%q not in body", s)
	}
	return strings.Count(body[:i], "\n") + 1
}

func TestExampleConfigIsValid(t *testing.T) {
	cfg, problems := loadConfig("../../config.example.yaml", noEnv)
	if len(problems) > 0 {
		t.Fatalf("problems: %v", problems)
	}
	if cfg.Community.Name != "普惠苑社区" || len(cfg.Categories) != 6 || cfg.SMS.Provider != "log" || cfg.WeChat.Enabled || cfg.Telegram.Enabled {
		t.Fatalf("config %+v", cfg)
	}
	keys := map[string]int{}
	for _, c := range cfg.Categories {
		keys[c.Key] = c.TargetHours
	}
	for _, k := range []string{"sanitation", "repairs", "safety", "disputes", "noise", "other"} {
		if keys[k] < 1 {
			t.Errorf("category %s missing or without target", k)
		}
	}
}

func TestConfigErrorsNameFileLineAndKey(t *testing.T) {
	cases := []struct {
		name, old, new, key, msg string
	}{
		{"unknown key", "  dev_pages: true", "  dev_pagez: true", "server.dev_pagez", "unknown key"},
		{"wrong type", "  rate_per_second: 50", "  rate_per_second: fifty", "sms.rate_per_second", "expected an integer"},
		{"wrong type bool", "  enabled: false                # the WeChat", "  enabled: maybe                # the WeChat", "wechat.enabled", "expected true or false"},
		{"missing credential", "  enabled: false                # the Telegram bot", "  enabled: true                # the Telegram bot", "telegram.token", "required when the channel is enabled"},
		{"bad provider", "  provider: log ", "  provider: carrier-pigeon ", "sms.provider", "must be log or aliyun"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := exampleWith(t, c.old, c.new)
			path := writeConfig(t, body)
			_, problems := loadConfig(path, noEnv)
			if len(problems) == 0 {
				t.Fatal("no problem reported")
			}
			var found bool
			for _, p := range problems {
				if p.Key == c.key && strings.Contains(p.Msg, c.msg) {
					found = true
					wantLine := lineOf(t, body, strings.TrimSpace(strings.Fields(c.new)[0]))
					if c.name == "missing credential" {
						// The empty token's own line.
						wantLine = lineOf(t, body, "LINLI_TELEGRAM_TOKEN; from")
					}
					if p.Line != wantLine || p.File != path {
						t.Fatalf("problem %v: want %s line %d", p, path, wantLine)
					}
					if s := p.String(); !strings.HasPrefix(s, path+":") || !strings.Contains(s, ": "+c.key+": ") {
						t.Fatalf("rendered as %q", s)
					}
				}
			}
			if !found {
				t.Fatalf("no %s problem: %v", c.key, problems)
			}
		})
	}
}

func TestSecretsFromEnvironmentWin(t *testing.T) {
	body := exampleWith(t, "  enabled: false                # the Telegram bot", "  enabled: true                # the Telegram bot")
	body = strings.Replace(body, `  token: ""                     # env LINLI_TELEGRAM_TOKEN; from @BotFather`, `  token: "from-file"`, 1)
	if !strings.Contains(body, "from-file") {
		t.Fatal("token line not replaced")
	}
	path := writeConfig(t, body)
	env := map[string]string{"LINLI_TELEGRAM_TOKEN": "123:from-env"}
	cfg, problems := loadConfig(path, func(k string) string { return env[k] })
	if len(problems) > 0 {
		t.Fatalf("problems %v", problems)
	}
	if cfg.Telegram.Token != "123:from-env" {
		t.Fatalf("token %q", cfg.Telegram.Token)
	}
	// The environment also satisfies a credential the file lacks.
	body = exampleWith(t, "  enabled: false                # the Telegram bot", "  enabled: true                # the Telegram bot")
	if _, problems := loadConfig(writeConfig(t, body), func(k string) string { return env[k] }); len(problems) > 0 {
		t.Fatalf("env credential not used: %v", problems)
	}
}

func TestMissingConfigFile(t *testing.T) {
	_, problems := loadConfig(filepath.Join(t.TempDir(), "nope.yaml"), noEnv)
	if len(problems) != 1 || !strings.Contains(problems[0].String(), "nope.yaml: cannot read the config file") {
		t.Fatalf("%v", problems)
	}
}

func TestCheckCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"check", "--config", "../../config.example.yaml"}, nil, &out, &errb, noEnv); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	body := exampleWith(t, "  dev_pages: true", "  dev_pagez: true")
	body = strings.Replace(body, "  rate_per_second: 50", "  rate_per_second: x", 1)
	path := writeConfig(t, body)
	out.Reset()
	errb.Reset()
	if code := run([]string{"check", "--config", path}, nil, &out, &errb, noEnv); code != 1 {
		t.Fatalf("exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want every problem, one per line:\n%s", errb.String())
	}
	// Nothing starts with a bad config: serve exits 1 before opening anything.
	dir := t.TempDir()
	body = strings.Replace(body, "path: ./data/linli.db", "path: "+filepath.Join(dir, "x.db"), 1)
	if code := run([]string{"serve", "--config", writeConfig(t, body)}, nil, &out, &errb, noEnv); code != 1 {
		t.Fatalf("serve exit %d", code)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.db")); !os.IsNotExist(err) {
		t.Fatal("serve created the database despite a bad config")
	}
}

func TestVersionAndUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"version"}, nil, &out, &errb, noEnv); code != 0 || !strings.HasPrefix(out.String(), "linli ") {
		t.Fatalf("version: %d %q", code, out.String())
	}
	if code := run([]string{"frobnicate"}, nil, &out, &errb, noEnv); code != 2 {
		t.Fatalf("unknown command exit %d", code)
	}
	// CONTRACT.md: a missing config file is exit 1, the flag left out too.
	for _, cmd := range []string{"serve", "check", "chat"} {
		errb.Reset()
		if code := run([]string{cmd}, nil, &out, &errb, noEnv); code != 1 || !strings.Contains(errb.String(), "--config FILE is required") {
			t.Fatalf("%s without --config: %d %q", cmd, code, errb.String())
		}
	}
}

func TestMissingCredentialAbsentKeyPointsAtSection(t *testing.T) {
	body := "community:\n  name: x\ncategories:\n  - {key: other, name: 其他, target_hours: 1}\nwechat:\n  enabled: true\n  app_id: wx1\n"
	_, problems := loadConfig(writeConfig(t, body), noEnv)
	var got []string
	for _, p := range problems {
		got = append(got, p.String())
	}
	joined := strings.Join(got, "\n")
	for _, want := range []string{":5: wechat.app_secret: required", ":5: wechat.token: required"} {
		if !strings.Contains(joined, want) {
			t.Fatalf("want %q in:\n%s", want, joined)
		}
	}
}

func TestDevPagesOnlyOnLoopback(t *testing.T) {
	for _, c := range []struct {
		listen, public string
		ok             bool
	}{
		{"127.0.0.1:8080", "http://127.0.0.1:8080", true},
		{"localhost:8080", "http://localhost:8080", true},
		{"0.0.0.0:8080", "http://10.0.0.5:8080", false},
		{"127.0.0.1:8080", "https://linli.example.cn", false},
	} {
		body := exampleWith(t, "  listen: 127.0.0.1:8080", "  listen: "+c.listen)
		body = strings.Replace(body, "  public_url: http://127.0.0.1:8080", "  public_url: "+c.public, 1)
		_, problems := loadConfig(writeConfig(t, body), noEnv)
		var flagged bool
		for _, p := range problems {
			flagged = flagged || p.Key == "server.dev_pages"
		}
		if flagged == c.ok {
			t.Errorf("listen %s public %s: dev_pages flagged=%v", c.listen, c.public, flagged)
		}
	}
}

// TestCheckListsDecodeAndValidationProblemsTogether: one run of check shows
// a wrong type and a missing credential at once.
func TestCheckListsDecodeAndValidationProblemsTogether(t *testing.T) {
	body := exampleWith(t, "  rate_per_second: 50", "  rate_per_second: fifty")
	body = strings.Replace(body, "  enabled: false                # the Telegram bot", "  enabled: true                # the Telegram bot", 1)
	_, problems := loadConfig(writeConfig(t, body), noEnv)
	var keys []string
	for _, p := range problems {
		keys = append(keys, p.Key)
	}
	joined := strings.Join(keys, " ")
	if !strings.Contains(joined, "sms.rate_per_second") || !strings.Contains(joined, "telegram.token") {
		t.Fatalf("problems %v", problems)
	}
	if strings.Count(joined, "sms.rate_per_second") != 1 {
		t.Fatalf("the bad rate is reported twice: %v", problems)
	}
}

// CONTRACT.md's sample config says `categories: []`; that file, and one
// that leaves the key out, must run with the usual categories rather than
// be refused.
func TestNoCategoriesGetsTheDefaults(t *testing.T) {
	for name, body := range map[string]string{
		"empty list": "community:\n  name: 普惠苑社区\ncategories: []\n",
		"left out":   "store:\n  path: ./data/linli.db\n",
	} {
		cfg, problems := loadConfig(writeConfig(t, body), noEnv)
		if len(problems) > 0 {
			t.Fatalf("%s: problems: %v", name, problems)
		}
		if len(cfg.Categories) != 6 || cfg.Categories[0].Key != "sanitation" || cfg.Categories[5].Key != "other" {
			t.Fatalf("%s: categories %+v", name, cfg.Categories)
		}
	}
	// The built-in six are the example file's: the two cannot drift apart.
	example, problems := loadConfig("../../config.example.yaml", noEnv)
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	if !reflect.DeepEqual(example.Categories, defaultCategories()) {
		t.Fatalf("config.example.yaml categories %+v\nbuilt-in %+v", example.Categories, defaultCategories())
	}
}

// A channel path the HTTP mux cannot take made `serve` panic after check
// had passed it; check must refuse it with its line, and so must a path
// shared by both channels or taken from linli's own endpoints.
func TestChannelPathsThatCannotBeServed(t *testing.T) {
	for _, tc := range []struct{ old, new, key string }{
		{"path: /wechat ", `path: "/we chat" `, "wechat.path"},
		{"path: /wechat ", `path: "/w{x" `, "wechat.path"},
		{"path: /wechat ", `path: /healthz `, "wechat.path"},
		{"webhook_path: /telegram", "webhook_path: /sms/tg", "telegram.webhook_path"},
	} {
		body := exampleWith(t, tc.old, tc.new)
		_, problems := loadConfig(writeConfig(t, body), noEnv)
		if len(problems) != 1 || problems[0].Key != tc.key || problems[0].Line != lineOf(t, body, strings.TrimSpace(tc.new)) {
			t.Errorf("%s: problems %v", tc.new, problems)
		}
	}
	body := exampleWith(t, "webhook_path: /telegram", "webhook_path: /wechat")
	body = strings.Replace(body, "public_url: http://127.0.0.1:8080", "public_url: https://linli.example.org", 1)
	body = strings.Replace(body, "dev_pages: true", "dev_pages: false", 1)
	body = strings.Replace(body, "mode: polling", "mode: webhook", 1)
	body = strings.Replace(body, "enabled: false", "enabled: true", 2)
	env := func(k string) string {
		return map[string]string{"LINLI_WECHAT_APP_SECRET": "s", "LINLI_WECHAT_TOKEN": "t",
			"LINLI_TELEGRAM_TOKEN": "1:x", "LINLI_TELEGRAM_WEBHOOK_SECRET": "sec"}[k]
	}
	body = strings.Replace(body, `app_id: ""`, `app_id: "wx1"`, 1)
	_, problems := loadConfig(writeConfig(t, body), env)
	if len(problems) != 1 || problems[0].Key != "telegram.webhook_path" {
		t.Errorf("shared path: problems %v", problems)
	}
}
