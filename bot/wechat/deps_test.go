package wechat

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoSDKRootOrLogrus guards the DESIGN trap: nothing under bot/wechat may
// link the SDK root package (its init sets global logrus to debug on stdout)
// or logrus at all (the SDK server package logs message bodies with it).
func TestNoSDKRootOrLogrus(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not found")
	}
	out, err := exec.Command(gobin, "list", "-deps", "-test", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "github.com/silenceper/wechat/v2" || strings.HasPrefix(pkg, "github.com/sirupsen/logrus") ||
			pkg == "github.com/silenceper/wechat/v2/officialaccount/server" {
			t.Errorf("bot/wechat links %s", pkg)
		}
	}
}
