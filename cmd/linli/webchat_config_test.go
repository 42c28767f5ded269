package main

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

func TestWebChatConfigKeys(t *testing.T) {
	short := `  session_secret: "too short"`
	body := exampleWith(t, `  session_secret: ""`, short)
	_, problems := loadConfig(writeConfig(t, body), noEnv)
	if len(problems) != 1 || problems[0].Key != "server.session_secret" || problems[0].Line != lineOf(t, body, short) {
		t.Fatalf("short secret: %v", problems)
	}
	body = exampleWith(t, `  real_ip_header: ""`, `  real_ip_header: "X Real IP"`)
	if _, problems := loadConfig(writeConfig(t, body), noEnv); len(problems) != 1 || problems[0].Key != "server.real_ip_header" {
		t.Fatalf("bad header name: %v", problems)
	}
	secret := strings.Repeat("s", 40)
	cfg, problems := loadConfig("../../config.example.yaml", func(k string) string {
		if k == "LINLI_SESSION_SECRET" {
			return secret
		}
		return ""
	})
	if len(problems) > 0 || cfg.Server.SessionSecret != secret {
		t.Fatalf("LINLI_SESSION_SECRET not used: %q, %v", cfg.Server.SessionSecret, problems)
	}
	cfg.Store.Path = filepath.Join("some", "dir", "linli.db")
	if got := cfg.uploadDir(); got != filepath.Join("some", "dir", "uploads") {
		t.Errorf("default upload dir %q, want beside the database", got)
	}
}

// The shipped config serves the chat page at / and the outbox at /dev/outbox.
func TestServeShowsWebChatAndDevOutbox(t *testing.T) {
	base, _, stop := startServer(t)
	defer stop()
	for path, want := range map[string]string{"/": `<script src="/static/app.js"`, "/dev/outbox": "Outbox"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %d, lacks %q", path, resp.StatusCode, want)
		}
	}
}
