// Package qr serves check-in codes as QR images for channels that show
// pictures: GET /qr/{CODE}.png returns the QR code of CODE and nothing else.
// It looks nothing up, so the endpoint cannot tell which codes exist and
// reveals no more than the URL already holds.
package qr

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/skip2/go-qrcode"
)

// Size is the width and height of the images in pixels: large enough for a
// phone camera at the door, small enough for any chat.
const Size = 256

// codeRe is what a check-in code can look like; anything else is 404, so
// the endpoint is no general-purpose QR generator.
var codeRe = regexp.MustCompile(`^[A-Z0-9]{4,12}$`)

// PNG renders text as a QR code image. Medium error correction survives a
// scratched or dim phone screen.
func PNG(text string) ([]byte, error) {
	b, err := qrcode.Encode(text, qrcode.Medium, Size)
	if err != nil {
		return nil, fmt.Errorf("qr: %w", err)
	}
	return b, nil
}

// Handler serves GET {prefix}{CODE}.png; mount it on a pattern such as
// "GET /qr/{file}".
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		file := r.PathValue("file")
		if file == "" {
			file = r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
		}
		code, ok := strings.CutSuffix(file, ".png")
		if !ok || !codeRe.MatchString(code) {
			http.NotFound(w, r)
			return
		}
		img, err := PNG(code)
		if err != nil {
			http.Error(w, "cannot render", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		// The image of a code never changes; only the resident and staff see it.
		w.Header().Set("Cache-Control", "private, max-age=86400")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Write(img)
	})
}
