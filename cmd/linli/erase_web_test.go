package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"strings"
	"testing"
)

// TestWebResidentErasesTheirPhotos: a web chat resident consents, sends a
// photo, and erases their data: the photo's file is gone from the upload
// directory with its row, the session with it, and the same browser is
// somebody new.
func TestWebResidentErasesTheirPhotos(t *testing.T) {
	base, a, stop := startServer(t)
	defer stop()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	post := func(path, ctype string, body []byte) string {
		t.Helper()
		req, _ := http.NewRequest("POST", base+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("POST %s: %d %s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	say := func(text string) string {
		b, _ := json.Marshal(map[string]string{"text": text})
		return post("/api/message", "application/json", b)
	}
	if out := post("/api/hello", "application/json", []byte("{}")); !strings.Contains(out, "个人信息") {
		t.Fatalf("hello: %s", out)
	}
	if out := say("同意"); !strings.Contains(out, "谢谢") {
		t.Fatalf("consent: %s", out)
	}
	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0}, 64)...)
	post("/api/photo", "image/png", png)
	dir := a.cfg.uploadDir()
	files, _ := os.ReadDir(dir)
	if len(files) != 1 {
		t.Fatalf("uploads %v", files)
	}
	if out := say("删除我的信息"); !strings.Contains(out, "确定要删除") {
		t.Fatalf("erase: %s", out)
	}
	if out := say("确认删除"); !strings.Contains(out, "已删除") {
		t.Fatalf("erase confirmed: %s", out)
	}
	if files, _ := os.ReadDir(dir); len(files) != 0 {
		t.Fatalf("photo files left: %v", files)
	}
	var uploads, sessions, webIDs int
	a.st.DB().QueryRow("SELECT COUNT(*) FROM web_uploads").Scan(&uploads)
	a.st.DB().QueryRow("SELECT COUNT(*) FROM web_sessions").Scan(&sessions)
	a.st.DB().QueryRow("SELECT COUNT(*) FROM identities WHERE channel = 'web'").Scan(&webIDs)
	if uploads != 0 || sessions != 0 || webIDs != 0 {
		t.Fatalf("left: %d uploads, %d sessions, %d web identities", uploads, sessions, webIDs)
	}
	if out := say("你好"); !strings.Contains(out, "个人信息") || !strings.Contains(out, `"new":true`) {
		t.Fatalf("after erasure: %s", out)
	}
}
