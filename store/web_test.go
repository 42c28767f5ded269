package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestWebSessionsRotateOnceAndExpire(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	t0 := time.Unix(1_800_000_000, 0)
	if err := s.CreateWebSession(ctx, WebSession{TokenHash: "a", ExternalID: "w1", CreatedAt: t0, SeenAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateWebSession(ctx, WebSession{TokenHash: "a", ExternalID: "w2", CreatedAt: t0, SeenAt: t0}); err == nil {
		t.Fatal("a session id was issued twice")
	}
	if _, err := s.WebSessionByHash(ctx, "a", t0.Add(time.Second)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a session idle since before notBefore: %v", err)
	}
	next := WebSession{TokenHash: "b", ExternalID: "w1", Bound: "fp", CreatedAt: t0, SeenAt: t0.Add(time.Hour)}
	if err := s.RotateWebSession(ctx, "a", next); err != nil {
		t.Fatal(err)
	}
	// A second request rotating the same old session finds it gone and adds nothing.
	if err := s.RotateWebSession(ctx, "a", WebSession{TokenHash: "c", ExternalID: "w1", CreatedAt: t0, SeenAt: t0}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second rotation: %v", err)
	}
	if _, err := s.WebSessionByHash(ctx, "c", t0); !errors.Is(err, ErrNotFound) {
		t.Fatal("the losing rotation left a session behind")
	}
	w, err := s.WebSessionByHash(ctx, "b", t0)
	if err != nil || w.ExternalID != "w1" || w.Bound != "fp" || !w.SeenAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("rotated session: %+v, %v", w, err)
	}
	if n, err := s.DeleteWebSessionsSeenBefore(ctx, t0.Add(2*time.Hour)); err != nil || n != 1 {
		t.Fatalf("purge: %d, %v", n, err)
	}
}

func TestWebUploads(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	u := WebUpload{Token: "0123", ExternalID: "w1", MIME: "image/png", Size: 42, CreatedAt: time.Unix(1_800_000_000, 0)}
	if err := s.AddWebUpload(ctx, u); err != nil {
		t.Fatal(err)
	}
	got, err := s.WebUploadByToken(ctx, "0123")
	if err != nil || got != u {
		t.Fatalf("upload: %+v, %v", got, err)
	}
	if _, err := s.WebUploadByToken(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing upload: %v", err)
	}
}
