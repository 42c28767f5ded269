package main

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"linli/notify"
	"linli/store"
)

// findChromium returns the browser for the browser test. Without one the
// test skips, unless LINLI_REQUIRE_BROWSER is set (CI sets it after
// installing Debian's chromium), where a missing browser is a failure.
func findChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("LINLI_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Chromium found: install Debian's chromium package (apt-get install chromium) or set LINLI_CHROMIUM to run the web chat browser test"
	if os.Getenv("LINLI_REQUIRE_BROWSER") != "" {
		t.Fatal(msg + " (LINLI_REQUIRE_BROWSER is set)")
	}
	t.Skip(msg)
	return ""
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestWebChatInBrowser drives the real page in headless Chromium against the
// server that `serve` runs on the shipped config: a resident reports a
// problem by pressing buttons, typing and sending a photo, gets a ticket
// number, asks 我的 and sees the ticket; then a staff reply holding markup
// arrives through the outbox and is shown as text.
func TestWebChatInBrowser(t *testing.T) {
	chromium := findChromium(t)
	started := time.Now()
	base, a, stop := startServer(t)
	defer stop()

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("lang", "zh-CN"),
		chromedp.Flag("accept-lang", "zh-CN,zh"),
		chromedp.WindowSize(390, 844),
	)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	// The first Run starts the browser; its context must outlive the test's steps.
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	t.Logf("chromium started in %s", time.Since(started).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(browser, 90*time.Second)
	defer cancel()

	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		stepStart := time.Now()
		defer func() { t.Logf("%s: %s", what, time.Since(stepStart).Round(time.Millisecond)) }()
		if err := chromedp.Do(ctx, steps...); err != nil {
			shot(t, ctx, "failed")
			t.Fatalf("%s: %v", what, err)
		}
	}
	// botSays waits until a reply containing s is on the page.
	botSays := func(s string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](fmt.Sprintf(
			`Array.from(document.querySelectorAll('#log .msg.bot')).some(e => e.textContent.includes(%s))`, jsString(s)),
			chromedp.WithPollingTimeout(15*time.Second))
	}
	// press clicks the live button with this label.
	press := func(label string) chromedp.Action[chromedp.Void] {
		return chromedp.Click(chromedp.Search(fmt.Sprintf(`//div[@class="choices"]/button[not(@disabled)][normalize-space()=%s]`, jsString(label))))
	}
	typeAndSend := func(text string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(chromedp.SendKeys(chromedp.CSS("#text"), text), chromedp.Click(chromedp.CSS("#send")))
	}

	photo := filepath.Join(t.TempDir(), "corridor.png")
	writePhoto(t, photo, 2400, 1800) // larger than the page's 1600 px: it must shrink it

	do("open the page",
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`body[data-ready]`)),
		botSays("欢迎来到普惠苑社区"),
		botSays("请了解我们如何处理您的个人信息"),
	)
	// config.example.yaml asks for consent (community.require_consent).
	do("consent", press("同意"), botSays("谢谢"))
	do("report: category", press("报事报修"), botSays("请选择问题类别"), press("环境卫生"), botSays("请描述一下问题"))
	do("report: description", typeAndSend("3栋2单元楼道灯坏了，晚上很黑"), botSays("请发一张现场照片"))
	do("report: photo",
		chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{photo}),
		chromedp.WaitVisible(chromedp.CSS(`#log .msg.me img`)),
		botSays("问题在哪里"),
	)
	do("report: place", typeAndSend("3栋2单元501"), botSays("请留一个联系电话"))
	do("report: contact", press("跳过"), botSays("请确认您的报修"))
	do("report: submit", press("确认提交"), botSays("工单号"))

	replies, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#log .msg.bot')).map(e => e.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	number := regexp.MustCompile(`工单号 (T\d+)`).FindStringSubmatch(replies[len(replies)-1])
	if number == nil {
		t.Fatalf("no ticket number in %q", replies[len(replies)-1])
	}
	ticket, err := a.st.Ticket(context.Background(), number[1])
	if err != nil || ticket.Channel != "web" || ticket.Address != "3栋2单元501" || !strings.Contains(ticket.PhotoURL, "/media/") {
		t.Fatalf("ticket %s: %+v, %v", number[1], ticket, err)
	}
	t.Logf("reported %s through the page", number[1])

	// 我的 from the quick bar lists the ticket.
	do("my items",
		chromedp.Click(chromedp.CSS(`#quick button[data-word="word_status"]`)),
		botSays("您进行中的事项"),
		botSays(number[1]),
	)
	png := shot(t, ctx, "webchat")
	if p := os.Getenv("LINLI_SCREENSHOT"); p != "" {
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// A staff reply holding markup goes through the outbox: the dispatcher
	// holds it for the web identity, the page collects it and shows it as text.
	var ext string
	var rid int64
	if err := a.st.DB().QueryRow("SELECT external_id, resident_id FROM identities WHERE channel = 'web'").Scan(&ext, &rid); err != nil {
		t.Fatal(err)
	}
	xss := `<img src=x onerror=alert(1)>`
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__alerts = 0; window.alert = function () { window.__alerts++; }; true`)); err != nil {
		t.Fatal(err)
	}
	if err := a.outbox.Enqueue(context.Background(), store.OutboxRow{Kind: notify.KindReply, ResidentID: rid, Ref: number[1],
		Body: store.OutboxBody{Text: xss}}); err != nil {
		t.Fatal(err)
	}
	do("staff reply arrives", botSays(xss))
	type domCheck struct {
		Images []string
		Text   string
		Alerts int
	}
	// Give a broken image the time to fire its onerror, had one been made.
	check, err := chromedp.Run(ctx, chromedp.Evaluate[domCheck](`new Promise(r => setTimeout(() => r({
		Images: Array.from(document.querySelectorAll('#log img')).map(i => i.getAttribute('src')),
		Text: Array.from(document.querySelectorAll('#log .msg.bot')).pop().textContent,
		Alerts: window.__alerts,
	}), 300))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if check.Text != xss || check.Alerts != 0 {
		t.Fatalf("staff reply rendered as %q, alerts %d", check.Text, check.Alerts)
	}
	for _, src := range check.Images {
		if !strings.HasPrefix(src, "blob:") {
			t.Fatalf("an image element with src %q is in the chat: markup was rendered", src)
		}
	}
	// The page acknowledged it: the row is sent, not held.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var status string
		a.st.DB().QueryRow("SELECT status FROM outbox WHERE kind = 'reply' AND ref = ?", number[1]).Scan(&status)
		if status == store.OutboxSent {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("staff reply row is %q, want sent after the page showed it", status)
		}
		<-time.After(50 * time.Millisecond)
	}

	// A reload keeps the conversation (no second welcome, nothing shown twice);
	// the language button switches the resident and the page to English.
	do("reload and switch language",
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(`body[data-ready]`)),
		botSays(number[1]),
		chromedp.Click(chromedp.CSS("#lang")),
		botSays("I will talk to you in English"),
		chromedp.Poll[chromedp.Void](`document.querySelector('#text').placeholder === 'Type a message…' && document.documentElement.lang === 'en'`,
			chromedp.WithPollingTimeout(5*time.Second)),
	)
	counts, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`[
		Array.from(document.querySelectorAll('#log .msg.bot')).filter(e => e.textContent.includes('欢迎来到')).length,
		Array.from(document.querySelectorAll('#log .msg.bot')).filter(e => e.textContent === `+jsString(xss)+`).length]`))
	if err != nil || counts[0] != 1 || counts[1] != 1 {
		t.Fatalf("after a reload: welcome ×%d, staff reply ×%d (%v)", counts[0], counts[1], err)
	}
	t.Logf("browser test took %s", time.Since(started).Round(time.Millisecond))
}

// shot saves a screenshot of the page as a test artifact (go test
// -artifacts keeps it under the output directory) and returns it.
func shot(t *testing.T, ctx context.Context, name string) []byte {
	t.Helper()
	b, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Logf("screenshot: %v", err)
		return nil
	}
	p := filepath.Join(t.ArtifactDir(), name+".png")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Logf("screenshot: %v", err)
	}
	t.Logf("screenshot %s (%d bytes)", p, len(b))
	return b
}

// writePhoto makes a PNG of w×h pixels.
func writePhoto(t *testing.T, path string, w, h int) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x / 10), uint8(y / 8), 90, 255})
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}
