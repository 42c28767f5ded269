package webchat

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRemoveUploads(t *testing.T) {
	dir := t.TempDir()
	keep, gone := "00000000000000000000000000000001", "00000000000000000000000000000002"
	for _, n := range []string{keep, gone, "secret.txt"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A file already gone is no error.
	if err := RemoveUploads(dir, []string{gone, "0000000000000000000000000000000f"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, gone)); !os.IsNotExist(err) {
		t.Fatalf("photo still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, keep)); err != nil {
		t.Fatalf("another photo went: %v", err)
	}
	// Anything that is not a token never reaches the file system.
	if err := RemoveUploads(dir, []string{"secret.txt", "../" + keep}); err == nil {
		t.Fatal("bad tokens accepted")
	}
	if _, err := os.Stat(filepath.Join(dir, "secret.txt")); err != nil {
		t.Fatalf("a file that is not an upload went: %v", err)
	}
}
