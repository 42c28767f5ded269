package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoadConfig feeds arbitrary files to the whole config loader (strict
// decoding into the real Config, environment, validation): every outcome
// is a config or a list of problems that each name the file, never a panic.
func FuzzLoadConfig(f *testing.F) {
	example, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(example))
	f.Add(strings.Replace(string(example), "enabled: false                # the Telegram bot", "enabled: true", 1))
	f.Add("services:\n  - key: x\n    slots: [{days: [mon], from: \"25:00\", to: \"09:00\", every: 0s}]\n")
	f.Add("events:\n  - {key: e, title: t, start: \"2026-02-30 19:00\", capacity: -1}\n")
	f.Add("targets:\n  - {key: t, metric: person_times, goal: 1, from: \"2027-01-01\", to: \"2026-01-01\"}\n")
	f.Add("community: {timezone: Mars/Olympus, flow_idle: -5m}\nstaff: [{name: a, role: admin, phone: \"+86 138 0000 0000\"}]\n")
	f.Add("wechat: {enabled: true, encoding_aes_key: short, qr_scenes: [{scene: \"\", flow: x}]}\n")
	f.Add("sms: {provider: aliyun, quiet_hours: \"21:00-\", rate_per_second: 0}\n")
	f.Add("")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, body string) {
		p := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		_, problems := loadConfig(p, func(string) string { return "" })
		for _, pr := range problems {
			if pr.File != p || !strings.HasPrefix(pr.String(), p) {
				t.Fatalf("problem without its file: %v", pr)
			}
		}
	})
}
