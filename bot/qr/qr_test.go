package qr

import (
	"bytes"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("GET /qr/{file}", h)
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	return w
}

func TestHandlerServesTheCodesOwnQR(t *testing.T) {
	h := Handler()
	w := get(t, h, "/qr/K7M2QX.png")
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "image/png" {
		t.Fatalf("status %d, type %q", w.Code, w.Header().Get("Content-Type"))
	}
	img, err := png.Decode(bytes.NewReader(w.Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != Size || b.Dy() != Size {
		t.Fatalf("size %v", b)
	}
	want, _ := PNG("K7M2QX")
	if !bytes.Equal(w.Body.Bytes(), want) {
		t.Fatal("the image is not the QR of the code in the path")
	}
	other := get(t, h, "/qr/ABCDEF.png")
	if bytes.Equal(other.Body.Bytes(), w.Body.Bytes()) {
		t.Fatal("two codes, one image")
	}
	// Nothing but a well-formed code: no general-purpose QR generator, no
	// other file types.
	for _, p := range []string{"/qr/K7M2QX", "/qr/k7m2qx.png", "/qr/K7M2QX.jpg", "/qr/" + strings.Repeat("A", 13) + ".png",
		"/qr/https%3A%2F%2Fevil.example.png", "/qr/.png", "/qr/AB-CD.png"} {
		if w := get(t, h, p); w.Code != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", p, w.Code)
		}
	}
}

// TestQRDecodes reads the image back with zbarimg where it is installed
// (apt-get install zbar-tools), so the encoder is checked by an independent
// decoder; without it only the PNG structure above is checked.
func TestQRDecodes(t *testing.T) {
	zbar, err := exec.LookPath("zbarimg")
	if err != nil {
		t.Skip("zbarimg not installed")
	}
	b, err := PNG("K7M2QX")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "code.png")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(zbar, "--quiet", "--raw", p).Output()
	if err != nil {
		t.Fatalf("zbarimg: %v", err)
	}
	if got := strings.TrimSpace(string(out)); got != "K7M2QX" {
		t.Fatalf("decoded %q", got)
	}
}
