package wechat

import (
	"sync"
	"sync/atomic"
	"time"
)

// Steps run on a bounded pool of workers rather than a goroutine per
// message. Under a load the server cannot keep up with, a goroutine per
// message piled up by the ten thousand (each with the stack SQLite grows)
// and the server's memory with them; the pool keeps the backlog as small
// queue entries instead, and refuses messages beyond a bound. A worker
// takes one sender at a time, so one resident's messages run in arrival
// order and a worker never sits waiting for another worker's resident.
// Workers outlive their job for a moment, so a busy server keeps reusing
// their grown stacks instead of growing new ones for every message.

// stepIdle is how long a worker without work waits for more before it ends.
const stepIdle = 2 * time.Second

type stepJob func()

type queuedJob struct {
	run stepJob
	at  time.Time // when it was queued
}

// senderJobs are the waiting jobs of one sender.
type senderJobs struct {
	key  string
	jobs []queuedJob
}

type stepPool struct {
	max, limit int
	// behind is how long the latest job to start had waited: how far
	// behind the workers are (nanoseconds).
	behind atomic.Int64

	mu      sync.Mutex
	senders map[string]*senderJobs // senders with waiting or running jobs
	ready   chan *senderJobs       // senders with waiting jobs and no worker
	waiting int                    // jobs not started yet
	workers int
	busy    int
}

func newStepPool(workers, limit int) *stepPool {
	return &stepPool{max: workers, limit: limit, senders: map[string]*senderJobs{}, ready: make(chan *senderJobs, limit)}
}

// submit queues job behind the sender's earlier ones. It reports false,
// queuing nothing, when limit jobs are already waiting, or when more than
// the workers can take are waiting and the last job to start had waited
// longer than patience: the workers are that far behind, so a new job
// would wait as long.
func (p *stepPool) submit(sender string, job stepJob, patience time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.waiting >= p.limit || (p.waiting > p.max && time.Duration(p.behind.Load()) > patience) {
		return false
	}
	p.waiting++
	s := p.senders[sender]
	if s == nil {
		// New, or between jobs with no worker on it: queue the sender.
		s = &senderJobs{key: sender}
		p.senders[sender] = s
		p.ready <- s // never blocks: fewer senders than waiting jobs
	}
	s.jobs = append(s.jobs, queuedJob{run: job, at: time.Now()})
	if p.workers-p.busy == 0 && p.workers < p.max {
		p.workers++
		go p.work()
	}
	return true
}

// backlog is the number of jobs not started yet.
func (p *stepPool) backlog() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waiting
}

func (p *stepPool) work() {
	idle := time.NewTimer(stepIdle)
	defer idle.Stop()
	for {
		select {
		case s := <-p.ready:
			p.runSender(s)
		case <-idle.C:
			p.mu.Lock()
			if len(p.ready) == 0 {
				p.workers--
				p.mu.Unlock()
				return
			}
			p.mu.Unlock()
		}
		idle.Reset(stepIdle)
	}
}

// runSender runs the sender's jobs one after the other until it has none;
// a sender whose resident keeps writing is handed back to the queue after
// each job, so others get their turn.
func (p *stepPool) runSender(s *senderJobs) {
	p.mu.Lock()
	p.busy++
	job := s.jobs[0]
	s.jobs[0] = queuedJob{}
	s.jobs = s.jobs[1:]
	p.waiting--
	p.mu.Unlock()
	p.behind.Store(int64(time.Since(job.at)))

	job.run()

	p.mu.Lock()
	p.busy--
	if len(s.jobs) > 0 {
		p.ready <- s
	} else {
		delete(p.senders, s.key)
	}
	p.mu.Unlock()
}
