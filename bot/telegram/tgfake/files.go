package tgfake

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	_ "image/png" // uploads may be PNG; DecodeConfig needs the decoder registered
	"sync"

	"github.com/go-telegram/bot/models"
)

// storedFile is a file the fake can hand out through getFile and the
// download URL.
type storedFile struct {
	id, uniqueID, path string
	size               int64
	width, height      int
	// data is nil for files that arrived in pushed updates with ids the
	// fake did not make; their content is a generated image of their size.
	data []byte
}

func (sf *storedFile) content() []byte {
	if sf.data != nil {
		return sf.data
	}
	return SampleJPEG(max(sf.width, 1), max(sf.height, 1))
}

func (sf *storedFile) photoSize() models.PhotoSize {
	return models.PhotoSize{FileID: sf.id, FileUniqueID: sf.uniqueID, Width: sf.width, Height: sf.height, FileSize: int(sf.size)}
}

// newFileLocked stores data under fresh ids shaped like Telegram's.
func (f *Fake) newFileLocked(data []byte, w, h int) *storedFile {
	f.nextFile++
	n := f.nextFile
	sf := &storedFile{
		id:       fmt.Sprintf("AgACAgUAAxkBAAIBTGZ%08d", n),
		uniqueID: fmt.Sprintf("AQADlrgx%08d", n),
		path:     fmt.Sprintf("photos/file_%d.jpg", n),
		size:     int64(len(data)),
		width:    w,
		height:   h,
		data:     data,
	}
	f.files[sf.id] = sf
	return sf
}

// newPhotoSetLocked makes one generated JPEG per size and links the sizes
// so that any of their file ids can be sent again as the whole photo.
func (f *Fake) newPhotoSetLocked(dims [][2]int) []models.PhotoSize {
	var sizes []models.PhotoSize
	for _, d := range dims {
		sizes = append(sizes, f.newFileLocked(SampleJPEG(d[0], d[1]), d[0], d[1]).photoSize())
	}
	for _, s := range sizes {
		f.photoSets[s.FileID] = sizes
	}
	return sizes
}

// uploadedPhotoLocked stores an uploaded photo. Like the real API it
// answers with a thumbnail and the original; the thumbnail's content is
// the original's, which is enough for a fake.
func (f *Fake) uploadedPhotoLocked(data []byte, w, h int) []models.PhotoSize {
	var sizes []models.PhotoSize
	if w > 90 || h > 90 {
		tw, th := scaleTo(w, h, 90)
		sizes = append(sizes, f.newFileLocked(data, tw, th).photoSize())
	}
	sizes = append(sizes, f.newFileLocked(data, w, h).photoSize())
	for _, s := range sizes {
		f.photoSets[s.FileID] = sizes
	}
	return sizes
}

func scaleTo(w, h, side int) (int, int) {
	if w >= h {
		return side, max(1, h*side/w)
	}
	return max(1, w*side/h), side
}

// registerPhotoLocked remembers a photo size seen in a pushed update so
// getFile and re-sending by file_id work for it.
func (f *Fake) registerPhotoLocked(ps models.PhotoSize, set []models.PhotoSize) {
	if ps.FileID == "" {
		return
	}
	if _, ok := f.files[ps.FileID]; !ok {
		f.nextFile++
		f.files[ps.FileID] = &storedFile{
			id:       ps.FileID,
			uniqueID: ps.FileUniqueID,
			path:     fmt.Sprintf("photos/file_%d.jpg", f.nextFile),
			size:     int64(ps.FileSize),
			width:    ps.Width,
			height:   ps.Height,
		}
	}
	if _, ok := f.photoSets[ps.FileID]; !ok {
		f.photoSets[ps.FileID] = append([]models.PhotoSize(nil), set...)
	}
}

var (
	samplesMu sync.Mutex
	samples   = map[[2]int][]byte{}
)

// SampleJPEG returns a valid w×h JPEG image, the same bytes for the same
// size. Tests use it to upload a photo the fake (like the real API)
// accepts; PhotoUpdate's files have this content.
func SampleJPEG(w, h int) []byte {
	samplesMu.Lock()
	defer samplesMu.Unlock()
	if b, ok := samples[[2]int{w, h}]; ok {
		return b
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{R: uint8(x * 255 / max(w, 1)), G: uint8(y * 255 / max(h, 1)), B: 160, A: 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 70}); err != nil {
		panic(fmt.Sprintf("tgfake: encode sample jpeg: %v", err))
	}
	samples[[2]int{w, h}] = buf.Bytes()
	return buf.Bytes()
}
