package webchat

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// RemoveUploads deletes the files of uploaded photos, by token, from dir
// (server.upload_dir): a resident who erases their data takes their photos
// with them. A token that is not one of ours is refused rather than joined
// to a path; a file already gone is no error.
func RemoveUploads(dir string, tokens []string) error {
	var errs []error
	for _, t := range tokens {
		if !tokenRe.MatchString(t) {
			errs = append(errs, fmt.Errorf("webchat: remove upload: bad token %q", t))
			continue
		}
		if err := os.Remove(filepath.Join(dir, t)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("webchat: remove upload: %w", err))
		}
	}
	return errors.Join(errs...)
}
