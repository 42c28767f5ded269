package wechat

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoSDKRootOrLogrus guards the DESIGN trap: nothing under bot/wechat,
// tests included, and nothing in the linli binary may link the SDK root
// package (its init sets global logrus to debug on stdout), the SDK's
// server package (it logs every message body through logrus) or logrus at
// all. Only the benchmark baseline in cmd/linli's tests links the SDK
// server, with logrus turned down; that is a test binary, never shipped.
func TestNoSDKRootOrLogrus(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not found")
	}
	for _, args := range [][]string{
		{"list", "-deps", "-test", "./..."},
		{"list", "-deps", "linli/cmd/linli"},
	} {
		out, err := exec.Command(gobin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		for _, pkg := range strings.Fields(string(out)) {
			if pkg == "github.com/silenceper/wechat/v2" || strings.HasPrefix(pkg, "github.com/sirupsen/logrus") ||
				pkg == "github.com/silenceper/wechat/v2/officialaccount/server" {
				t.Errorf("go %s: links %s", strings.Join(args, " "), pkg)
			}
		}
	}
}
