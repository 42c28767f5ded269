package main

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// buildBinary builds cmd/linli once per test run.
func buildBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "linli-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "linli")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = err
			binPath = string(out)
		}
	})
	if buildErr != nil {
		t.Fatalf("build: %v\n%s", buildErr, binPath)
	}
	return binPath
}

// testConfigFile writes the example config with the database in dir.
func testConfigFile(t *testing.T, dir string) string {
	t.Helper()
	example, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(example), "path: ./data/linli.db", "path: "+filepath.Join(dir, "linli.db"), 1)
	if cfg == string(example) {
		t.Fatal("store path not found in config.example.yaml")
	}
	p := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestScriptedChat drives the built binary with a script: report an issue,
// list it, view it by number, cancel it.
func TestScriptedChat(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	cfg := testConfigFile(t, dir)
	script, err := os.Open("testdata/chat_report.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer script.Close()
	cmd := exec.Command(bin, "chat", "--config", cfg, "--as", "alice")
	cmd.Stdin = script
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("linli chat: %v\nstderr:\n%s", err, stderr.String())
	}
	out := stdout.String()
	// Every reply is followed by one empty line.
	if !strings.HasSuffix(out, "\n\n") {
		t.Fatalf("output does not end with an empty line: %q", out[max(0, len(out)-40):])
	}
	want := []string{
		"请了解我们如何处理您的个人信息", // 你好 → the consent question (config.example.yaml)
		"1. 同意\n2. 不同意",
		"谢谢！",
		"普惠苑社区 邻里服务。请选择：\n1. 报事报修", // 同意 → the 你好 kept → menu
		"请选择问题类别",
		"提交成功！工单号 T1001",
		"您进行中的事项：\n【工单】\nT1001 · 设施维修 · 待受理",
		"工单 T1001 · 设施维修\n状态：待受理",
		"确定取消 工单 T1001",
		"工单 T1001 已取消。",
		"您目前没有进行中的事项。",
	}
	pos := 0
	for _, w := range want {
		i := strings.Index(out[pos:], w)
		if i < 0 {
			t.Fatalf("output lacks %q after position %d; output:\n%s", w, pos, out)
		}
		pos += i + len(w)
	}
	if strings.Contains(stderr.String(), "ERROR") {
		t.Fatalf("errors logged:\n%s", stderr.String())
	}
	// The same database in a second session: the resident is known.
	cmd = exec.Command(bin, "chat", "--config", cfg, "--as", "alice")
	cmd.Stdin = strings.NewReader("T1001\n")
	out2, err := cmd.Output()
	if err != nil || !strings.Contains(string(out2), "状态：已取消") {
		t.Fatalf("second session: %v\n%s", err, out2)
	}
}

// TestServeBinaryStopsOnSIGTERM runs the built binary on the example config
// and checks it answers health, then exits 0 on SIGTERM.
func TestServeBinaryStopsOnSIGTERM(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	cfgPath := testConfigFile(t, dir)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	body, _ := os.ReadFile(cfgPath)
	os.WriteFile(cfgPath, []byte(strings.Replace(string(body), "listen: 127.0.0.1:8080", "listen: "+addr, 1)), 0o600)
	cmd := exec.Command(bin, "serve", "--config", cfgPath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server never healthy; stderr:\n%s", stderr.String())
		}
		<-time.After(20 * time.Millisecond) // poll with a deadline
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "stopped") {
		t.Fatalf("no orderly stop logged:\n%s", stderr.String())
	}
}

// TestBackupCommand backs up the database of a chat session with the binary
// and finds the ticket in the copy.
func TestBackupCommand(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	cfg := testConfigFile(t, dir)
	cmd := exec.Command(bin, "chat", "--config", cfg)
	cmd.Stdin = strings.NewReader("报修\n同意\n1\n垃圾桶满了\n跳过\n跳过\n跳过\n1\n")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "T1001") {
		t.Fatalf("chat: %v\n%s", err, out)
	}
	to := filepath.Join(dir, "backup", "copy.db")
	if out, err := exec.Command(bin, "backup", "--config", cfg, "--to", to).CombinedOutput(); err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	// Restoring is pointing store.path at the copy.
	body, _ := os.ReadFile(cfg)
	restored := filepath.Join(dir, "restored.yaml")
	os.WriteFile(restored, []byte(strings.Replace(string(body), filepath.Join(dir, "linli.db"), to, 1)), 0o600)
	cmd = exec.Command(bin, "chat", "--config", restored)
	cmd.Stdin = strings.NewReader("T1001\n")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "垃圾桶满了") {
		t.Fatalf("restored chat: %v\n%s", err, out)
	}
}
