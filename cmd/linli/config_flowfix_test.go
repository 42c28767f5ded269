package main

import (
	"strings"
	"testing"
)

// The shipped services describe themselves in both languages, and an
// over-long description_en is reported at its key.
func TestServiceDescriptionsInBothLanguages(t *testing.T) {
	cfg, problems := loadConfig("../../config.example.yaml", noEnv)
	if len(problems) > 0 {
		t.Fatalf("problems: %v", problems)
	}
	for _, s := range cfg.Services {
		if s.Description == "" || s.DescriptionEN == "" {
			t.Errorf("service %s: description %q, description_en %q", s.Key, s.Description, s.DescriptionEN)
		}
	}
	long := strings.Repeat("x", 501)
	body := exampleWith(t, "    description_en: Free blood-pressure check", "    description_en: "+long+" Free blood-pressure check")
	_, problems = loadConfig(writeConfig(t, body), noEnv)
	found := false
	for _, p := range problems {
		if p.Key == "services[0].description_en" && strings.Contains(p.Msg, "at most 500") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no services[0].description_en problem: %v", problems)
	}
}

// Quiet hours reach the conversations, which start an offer's clock at
// their end.
func TestFlowsConfigCarriesQuietHours(t *testing.T) {
	cfg, problems := loadConfig("../../config.example.yaml", noEnv)
	if len(problems) > 0 {
		t.Fatalf("problems: %v", problems)
	}
	if got := cfg.flowsConfig().QuietHours; got == "" || got != cfg.SMS.QuietHours {
		t.Fatalf("flows quiet hours %q, sms %q", got, cfg.SMS.QuietHours)
	}
}
