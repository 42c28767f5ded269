package notify

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"linli/store"
)

type fakeJobs struct {
	mu      sync.Mutex
	digests []time.Time
	surveys int
}

func (f *fakeJobs) Surveys(context.Context, time.Time) error {
	f.mu.Lock()
	f.surveys++
	f.mu.Unlock()
	panic("survey bug")
}
func (f *fakeJobs) Escalate(context.Context, time.Time) error     { return nil }
func (f *fakeJobs) Broadcasts(context.Context, time.Time) error   { return nil }
func (f *fakeJobs) ExpireOffers(context.Context, time.Time) error { return nil }
func (f *fakeJobs) Digest(_ context.Context, now time.Time) error {
	f.mu.Lock()
	f.digests = append(f.digests, now)
	f.mu.Unlock()
	return nil
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// TestSchedulerRunsDigestAtNineCommunityTimeAndSurvivesPanics moves a fake
// clock across 09:00 in Shanghai: the digest runs once, at 09:00 there; a
// job that panics is logged and counted and the scheduler goes on.
func TestSchedulerRunsDigestAtNineCommunityTimeAndSurvivesPanics(t *testing.T) {
	e := newSMSEnv(t)
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 25, 8, 59, 0, 0, shanghai))
	jobs := &fakeJobs{}
	cfg := DefaultSchedule()
	cfg.SurveysEvery = time.Minute
	sc, err := NewScheduler(SchedulerOptions{Config: cfg, Location: shanghai, Clock: clock, Store: e.st, Dispatcher: e.d,
		Outbox: e.o, Jobs: jobs})
	if err != nil {
		t.Fatal(err)
	}
	sc.Start()
	defer sc.Stop()
	names := map[string]bool{}
	for _, j := range sc.Jobs() {
		names[j.Name()] = true
	}
	for _, n := range []string{JobDispatch, JobSurveys, JobEscalate, JobDigest, JobPurge, JobBroadcasts} {
		if !names[n] {
			t.Fatalf("job %q not scheduled (have %v)", n, names)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Every job has its timer set before the clock moves.
	if err := clock.BlockUntilContext(ctx, len(names)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(61 * time.Second)
	waitUntil(t, "the digest", func() bool { return sc.Runs(JobDigest) == 1 })
	waitUntil(t, "the panicking job", func() bool { return sc.Panics.Load() >= 1 })
	jobs.mu.Lock()
	got := jobs.digests[0]
	jobs.mu.Unlock()
	if !got.Equal(time.Date(2026, 11, 25, 9, 0, 0, 0, shanghai)) && !got.Equal(time.Date(2026, 11, 25, 9, 0, 1, 0, shanghai)) {
		t.Fatalf("digest ran at %v", got.In(shanghai))
	}
	// The scheduler is still alive: a wake-up dispatches a new row at once.
	ids, _ := e.residents(t, 1)
	e.o.Enqueue(context.Background(), notice(ids[0], true))
	waitUntil(t, "the woken dispatch", func() bool { return len(e.fake.Sent()) == 1 })
}

func TestPushEndpoints(t *testing.T) {
	e := newSMSEnv(t)
	ctx := context.Background()
	ids, _ := e.residents(t, 1)
	e.o.Enqueue(ctx, notice(ids[0], true))
	e.run(t)
	row, _ := e.st.RecentOutbox(ctx, 1)
	replies := &replyRecorder{}
	p := &AliyunPush{Secret: "k", Store: e.st, Replies: replies, Now: e.clock.Now}
	post := func(h http.Handler, key, body string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", "/x?key="+key, strings.NewReader(body)))
		return w
	}
	report := `[{"phone_number":"86` + row[0].SMSPhone + `","send_time":"2026-11-25 10:00:00","report_time":"2026-11-25 10:00:05",
		"success":true,"err_code":"DELIVERED","err_msg":"用户接收成功","sms_size":"1","biz_id":"` + row[0].ProviderID + `","out_id":"` + row[0].SMSOutID + `"}]`
	if w := post(p.ReportHandler(), "wrong", report); w.Code != 403 {
		t.Fatalf("wrong key: %d", w.Code)
	}
	if w := (&AliyunPush{Store: e.st}).ReportHandler(); post(w, "", report).Code != 403 {
		t.Fatal("no secret configured must refuse")
	}
	for i := 0; i < 2; i++ { // Aliyun pushes again; the second changes nothing
		w := post(p.ReportHandler(), "k", report)
		if w.Code != 200 || w.Body.String() != `{"code":0,"msg":"接收成功"}` {
			t.Fatalf("report: %d %s", w.Code, w.Body)
		}
	}
	got, _ := e.st.OutboxRowByID(ctx, row[0].ID)
	if got.Status != store.OutboxDelivered || got.DeliveredAt.IsZero() {
		t.Fatalf("after receipt: %+v", got)
	}
	up := `[{"phone_number":"13900000000","send_time":"2026-11-25 10:01:00","content":"TD","sign_name":"普惠苑社区","dest_code":"1","sequence_id":1234}]`
	for i := 0; i < 2; i++ {
		if w := post(p.ReplyHandler(), "k", up); w.Code != 200 || w.Body.String() != `{"code":0,"msg":"接收成功"}` {
			t.Fatalf("up: %d %s", w.Code, w.Body)
		}
	}
	if len(replies.got) != 1 || replies.got[0] != "13900000000:TD" {
		t.Fatalf("replies %v (a repeated push must be handled once)", replies.got)
	}
	if w := post(p.ReplyHandler(), "k", `{"not":"an array"}`); w.Code != 400 {
		t.Fatalf("bad body: %d", w.Code)
	}
}

type replyRecorder struct{ got []string }

func (r *replyRecorder) SMSReply(_ context.Context, phone, text string, _ time.Time) error {
	r.got = append(r.got, phone+":"+text)
	return nil
}
