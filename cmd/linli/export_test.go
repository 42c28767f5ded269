package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"linli/bot"
)

// eventConfig is the example config with one event in 2030 and the
// database in dir.
func eventConfig(t *testing.T, dir string) string {
	t.Helper()
	body := exampleWith(t, "events: []", `events:
  - key: show_2030
    title: 月末文艺晚会
    kind: show
    start: "2030-12-26 19:00"
    place: 社区文化广场
    capacity: 200
    companions: 2`)
	body = strings.Replace(body, "path: ./data/linli.db", "path: "+filepath.Join(dir, "linli.db"), 1)
	p := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExportRegistrations(t *testing.T) {
	dir := t.TempDir()
	path := eventConfig(t, dir)
	cfg, problems := loadConfig(path, noEnv)
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	// A resident registers with one companion, as `linli chat` would.
	ctx := context.Background()
	a, err := newApp(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	var last []bot.Reply
	// 同意: the example config asks for consent, then handles the 活动 kept.
	for _, text := range []string{"活动", "同意", "1", "报名", "1", "确认"} {
		last, err = a.bot.Handle(ctx, bot.Message{Channel: bot.ChannelConsole, UserID: "张阿姨", DisplayName: "张阿姨", Text: text})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(last) == 0 || !strings.Contains(last[0].Text, "报名成功") || last[0].Image == nil ||
		!strings.HasPrefix(last[0].Image.URL, "http://127.0.0.1:8080/qr/") {
		t.Fatalf("registration reply %+v", last)
	}
	a.close()

	var out, errb bytes.Buffer
	if code := run([]string{"export", "registrations", "--event", "show_2030", "--config", path}, nil, &out, &errb, noEnv); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(out.String(), "\ufeff"))).ReadAll()
	if err != nil || len(recs) != 2 || recs[0][1] != "签到码" || recs[1][2] != "张阿姨" || recs[1][4] != "1" ||
		!strings.Contains(last[0].Text, recs[1][1]) {
		t.Fatalf("CSV %q %v", recs, err)
	}
	// By number, into a file.
	file := filepath.Join(dir, "roster.csv")
	if code := run([]string{"export", "registrations", "--event", "1", "--config", path, "--out", file}, nil, &out, &errb, noEnv); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if b, err := os.ReadFile(file); err != nil || !strings.Contains(string(b), recs[1][1]) {
		t.Fatalf("file %q %v", b, err)
	}
	errb.Reset()
	if code := run([]string{"export", "registrations", "--event", "nope", "--config", path}, nil, &out, &errb, noEnv); code != 1 || !strings.Contains(errb.String(), `no event "nope"`) {
		t.Fatalf("unknown event: exit %d, %s", code, errb.String())
	}
	if code := run([]string{"export", "registrations", "--config", path}, nil, &out, &errb, noEnv); code != 2 {
		t.Fatalf("missing --event: exit %d", code)
	}
	if code := run([]string{"export", "bookings", "--config", path}, nil, &out, &errb, noEnv); code != 2 {
		t.Fatalf("unknown export: exit %d", code)
	}
}

func TestEventAndTargetValidation(t *testing.T) {
	for _, c := range []struct{ new, key, msg string }{
		{`events:
  - {key: a, title: A, start: "2030-01-02 10:00", deadline: "2030-01-03 10:00", capacity: 5}`, "events[0].deadline", "must not be after start"},
		{`events:
  - {key: a, title: A, start: "2030-01-02 10:00", capacity: 5}
  - {key: a, title: B, start: "2030-01-02 10:00", capacity: 5}`, "events[1].key", "appears twice"},
		{`events:
  - {key: a, title: A, kind: Training, start: "2030-01-02 10:00", capacity: 5}`, "events[0].kind", "lower-case"},
	} {
		_, problems := loadConfig(writeConfig(t, exampleWith(t, "events: []", c.new)), noEnv)
		found := false
		for _, p := range problems {
			if p.Key == c.key && strings.Contains(p.Msg, c.msg) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no %q problem in %v", c.key, c.msg, problems)
		}
	}
	_, problems := loadConfig(writeConfig(t, exampleWith(t, "event_kind: training ", "event_kind: Train-ing ")), noEnv)
	if len(problems) != 1 || problems[0].Key != "targets[0].event_kind" {
		t.Fatalf("%v", problems)
	}
}

func TestServeQRImages(t *testing.T) {
	base, _, stop := startServer(t)
	defer stop()
	resp, err := http.Get(base + "/qr/K7M2QX.png")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("qr: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	resp, err = http.Get(base + "/qr/not-a-code.png")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("qr of garbage: %d", resp.StatusCode)
	}
}
