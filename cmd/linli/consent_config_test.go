package main

import (
	"testing"

	"linli/flows"
	"linli/notify"
)

// TestRequireConsentKey: the example asks for consent, a file that leaves
// the key out does too, and an operator can switch it off; the retention
// reaches flows for the consent notice.
func TestRequireConsentKey(t *testing.T) {
	cfg, problems := loadConfig("../../config.example.yaml", noEnv)
	if len(problems) > 0 || !cfg.Community.RequireConsent || !cfg.flowsConfig().Community.RequireConsent {
		t.Fatalf("example: %v %v", cfg.Community.RequireConsent, problems)
	}
	if got := cfg.flowsConfig().MessageRetentionDays; got != 180 {
		t.Fatalf("retention told to flows: %d", got)
	}
	cfg, problems = loadConfig(writeConfig(t, "community:\n  name: x\ncategories:\n  - {key: other, name: 其他, target_hours: 24}\n"), noEnv)
	if len(problems) > 0 || !cfg.Community.RequireConsent {
		t.Fatalf("left out: %v %v", cfg.Community.RequireConsent, problems)
	}
	cfg, problems = loadConfig(writeConfig(t, exampleWith(t, "require_consent: true", "require_consent: false")), noEnv)
	if len(problems) > 0 || cfg.Community.RequireConsent {
		t.Fatalf("switched off: %v %v", cfg.Community.RequireConsent, problems)
	}
	_, problems = loadConfig(writeConfig(t, exampleWith(t, "require_consent: true", "require_consent: maybe")), noEnv)
	if len(problems) != 1 || problems[0].Key != "community.require_consent" {
		t.Fatalf("a wrong type: %v", problems)
	}
}

// The nightly purge finds this ability by a type assertion; keep it there.
var _ notify.Forgetter = (*flows.Jobs)(nil)
