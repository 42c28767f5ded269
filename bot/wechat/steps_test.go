package wechat

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// Jobs of one sender run one at a time in the order they came; no more
// than max run at once; every job runs.
func TestStepPoolOrderPerSenderAndBound(t *testing.T) {
	p := newStepPool(2, 100)
	gate := make(chan struct{})
	var (
		mu       sync.Mutex
		running  int
		most     int
		seen     = map[string][]int{}
		finished sync.WaitGroup
	)
	for i := 0; i < 5; i++ {
		for _, sender := range []string{"a", "b", "c"} {
			finished.Add(1)
			ok := p.submit(sender, func() {
				defer finished.Done()
				mu.Lock()
				running++
				most = max(most, running)
				seen[sender] = append(seen[sender], i)
				mu.Unlock()
				<-gate
				mu.Lock()
				running--
				mu.Unlock()
			}, time.Hour)
			if !ok {
				t.Fatalf("job %s%d refused", sender, i)
			}
		}
	}
	close(gate)
	finished.Wait()
	if most > 2 {
		t.Fatalf("%d jobs ran at once", most)
	}
	for sender, order := range seen {
		if fmt.Sprint(order) != "[0 1 2 3 4]" {
			t.Fatalf("sender %s ran %v", sender, order)
		}
	}
	if n := p.backlog(); n != 0 {
		t.Fatalf("%d still waiting", n)
	}
}

// Beyond limit waiting jobs, submit refuses.
func TestStepPoolRefusesBeyondLimit(t *testing.T) {
	p := newStepPool(1, 2)
	gate, started := make(chan struct{}), make(chan struct{}, 3)
	job := func() { started <- struct{}{}; <-gate }
	p.submit("a", job, time.Hour)
	<-started // running, no longer waiting
	if !p.submit("b", job, time.Hour) || !p.submit("c", job, time.Hour) {
		t.Fatal("room refused")
	}
	if p.submit("d", job, time.Hour) {
		t.Fatal("a third waiting job accepted with limit 2")
	}
	close(gate)
	deadline := time.Now().Add(5 * time.Second)
	for p.backlog() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("backlog never drained")
		}
		select {
		case <-time.After(time.Millisecond):
		}
	}
	if !p.submit("d", func() {}, time.Hour) {
		t.Fatal("refused after the backlog drained")
	}
}

// When the jobs starting now had waited longer than the patience, and
// more are waiting than the workers take, a new job is refused; a stall
// alone (nothing starting) is not refused before the limit.
func TestStepPoolRefusesWhenFarBehind(t *testing.T) {
	p := newStepPool(1, 100)
	gate, started := make(chan struct{}), make(chan string, 10)
	job := func(name string) stepJob {
		return func() { started <- name; <-gate }
	}
	p.submit("a", job("a"), time.Hour)
	<-started
	// a started at once (how long its worker took to start depends on the
	// machine; the test is about what follows).
	p.behind.Store(0)
	// A stall: nothing starts, so only the limit counts.
	for _, s := range []string{"b", "c", "d"} {
		if !p.submit(s, job(s), time.Millisecond) {
			t.Fatalf("%s refused during a stall", s)
		}
	}
	<-time.After(20 * time.Millisecond)
	gate <- struct{}{} // a ends; b starts, having waited 20 ms
	if got := <-started; got != "b" {
		t.Fatalf("%s started", got)
	}
	if p.submit("e", job("e"), 10*time.Millisecond) {
		t.Fatal("accepted while 20 ms behind with 10 ms of patience")
	}
	if !p.submit("e", job("e"), time.Hour) {
		t.Fatal("refused with patience to spare")
	}
	close(gate)
}

// An overloaded handler answers 503 and stores nothing; WeChat's next push
// of the same message is handled normally.
func TestOverloadRefusesAndRetryIsHandled(t *testing.T) {
	e := newHandlerEnv(t, func(_ *Config, o *HandlerOptions) { o.MaxSteps, o.MaxWaiting = 1, 1 })
	e.eng.gate, e.eng.started = make(chan struct{}), make(chan struct{}, 4)
	type answer struct {
		code int
		body string
	}
	a1, a2 := make(chan answer, 1), make(chan answer, 1)
	go func() { c, b := e.post(e.textMsg("oA", "一", nextMsgID())); a1 <- answer{c, b} }()
	<-e.eng.started // running
	go func() { c, b := e.post(e.textMsg("oB", "二", nextMsgID())); a2 <- answer{c, b} }()
	waitFor(t, "the second message to wait", func() bool { return e.h.steps.backlog() == 1 })
	before := e.counts(t)
	third := e.textMsg("oC", "三", nextMsgID())
	if code, body := e.post(third); code != http.StatusServiceUnavailable {
		t.Fatalf("overloaded server answered %d %q", code, body)
	}
	if after := e.counts(t); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("a refused message stored something: %v then %v", before, after)
	}
	close(e.eng.gate)
	for _, ch := range []chan answer{a1, a2} {
		if a := <-ch; a.code != 200 || a.body == "success" {
			t.Fatalf("accepted message answered %d %q", a.code, a.body)
		}
	}
	if code, body := e.post(third); code != 200 || mustContent(t, body) != "收到：三\n1. 甲\n2. 乙" {
		t.Fatalf("the push after a refusal: %d %q", code, body)
	}
	if n := len(e.eng.Turns()); n != 3 {
		t.Fatalf("engine ran %d times", n)
	}
}
