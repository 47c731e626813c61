package web

import (
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"time"
)

// Receiving an upload's body: under a minimum rate rather than a fixed
// deadline (a phone on a slow link must be able to send 5 MiB; a client
// that trickles a byte a second must not hold anything for long), and into
// memory taken from one budget for the whole site, a chunk at a time, so a
// slow body holds only what it has sent.

const (
	// minUploadRate and uploadRateWindow: every window of an upload's
	// body must bring at least minUploadRate × uploadRateWindow bytes
	// (80 KiB every 10 s), or the upload is cut off with 408. 5 MiB at
	// that rate takes under 11 minutes; a 2G (EDGE) link does three times
	// better.
	minUploadRate    = 8 << 10
	uploadRateWindow = 10 * time.Second
	// maxUploadBytesHeld bounds the upload bytes held in memory at once,
	// received and not yet processed, for the whole site: nine 5 MiB
	// files.
	maxUploadBytesHeld = 48 << 20
	// uploadChunk is the step in which a body takes memory from the budget.
	uploadChunk = 64 << 10
)

var (
	errUploadTooSlow = errorf(http.StatusRequestTimeout,
		"the upload was too slow: the connection sent less than %d KiB in %v; please try again on a better connection",
		minUploadRate*int(uploadRateWindow/time.Second)>>10, uploadRateWindow)
	errBudget = errors.New("web: upload memory budget spent")
)

// byteBudget is memory shared by every upload's body.
type byteBudget struct {
	mu   sync.Mutex
	left int64
}

func newByteBudget(n int64) *byteBudget { return &byteBudget{left: n} }

// take reserves n bytes if they are left.
func (b *byteBudget) take(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n > b.left {
		return false
	}
	b.left -= n
	return true
}

func (b *byteBudget) give(n int64) {
	b.mu.Lock()
	b.left += n
	b.mu.Unlock()
}

// readHeld reads r to its end (at most limit bytes: one more says it was
// longer) into memory taken from b uploadChunk at a time, then joined into
// one slice (whose bytes stay taken: the caller gives len(data) back).
// errBudget when the budget runs out.
func (b *byteBudget) readHeld(r io.Reader, limit int64) (data []byte, err error) {
	var chunks [][]byte
	var n int64
	defer func() { b.give(int64(len(chunks)) * uploadChunk) }()
	r = io.LimitReader(r, limit+1)
	for {
		if !b.take(uploadChunk) {
			return nil, errBudget
		}
		c := make([]byte, uploadChunk)
		chunks = append(chunks, c)
		k, err := fill(r, c)
		n += int64(k)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if !b.take(n) {
		return nil, errBudget
	}
	data = make([]byte, 0, n)
	for _, c := range chunks {
		data = append(data, c[:min(int64(len(c)), n-int64(len(data)))]...)
	}
	return data, nil
}

// minRate is a minimum rate: at least bytes in every window.
type minRate struct {
	bytes  int64
	window time.Duration
}

// uploadRate is the rule for upload bodies.
func uploadRate() minRate {
	return minRate{bytes: minUploadRate * int64(uploadRateWindow/time.Second), window: uploadRateWindow}
}

// fill reads r into c until c is full (nil) or r ends (io.EOF, which
// io.ReadFull would turn into io.ErrUnexpectedEOF, the error of a body cut
// short) or fails.
func fill(r io.Reader, c []byte) (int, error) {
	n := 0
	for n < len(c) {
		k, err := r.Read(c[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// rateBody is a request body cut off when a window passes without its
// quota of bytes: each window's quota met moves the connection's read
// deadline one window on.
type rateBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	rate minRate
	got  int64 // bytes in this window
}

// underRate puts r's body under rate, starting now. Its deadline replaces
// the server's read timeout for the body; the function returned ends it
// (call it once the body is read).
func underRate(w http.ResponseWriter, r *http.Request, rate minRate) (end func()) {
	b := &rateBody{ReadCloser: r.Body, rc: http.NewResponseController(w), rate: rate}
	b.next()
	r.Body = b
	return func() { _ = b.rc.SetReadDeadline(time.Time{}) }
}

func (b *rateBody) next() {
	b.got = 0
	_ = b.rc.SetReadDeadline(time.Now().Add(b.rate.window))
}

func (b *rateBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.got += int64(n)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return n, errUploadTooSlow
	}
	if b.got >= b.rate.bytes {
		b.next()
	}
	return n, err
}
