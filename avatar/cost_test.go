package avatar_test

import (
	"bytes"
	"errors"
	"image/jpeg"
	"math"
	"runtime/metrics"
	"testing"

	"soulbridge/avatar"
	"soulbridge/internal/testimage"
)

// allocated returns the bytes the process has allocated on the heap so far
// (runtime/metrics: exact, unlike a sampled profile).
func allocated() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestHostileImagesAreRefusedFromTheirHeaders: files that would make the
// decoders run for seconds or allocate hundreds of megabytes are refused
// (ErrTooCostly, with a reason) before a pixel is decoded: the refusal
// allocates almost nothing. Before the price from the headers, each of
// these was decoded (the scan bombs for seconds, the CMYK JPEG allocating
// 400 MB, the 16-bit PNG 100 MB before it found its data missing).
func TestHostileImagesAreRefusedFromTheirHeaders(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
	}{
		// Every scan passes over all 262,144 blocks in 27 bytes.
		{"progressive scan bomb, more scans than a photo has", testimage.ScanBomb(4096, 4096, avatar.MaxScans+1)},
		{"progressive scan bomb within the scan count", testimage.ScanBomb(4096, 4096, avatar.MaxScans)},
		{"baseline scan bomb", testimage.BaselineScanBomb(4096, 4096, 10)},
		{"four-component progressive JPEG", testimage.CMYKBomb(4096, 4096)},
		{"16-bit RGBA PNG 4096×3072", testimage.PNGHeaderOf(4096, 3072, 16, 6, 0)},
		{"interlaced 16-bit PNG 4096×2048", testimage.PNGHeaderOf(4096, 2048, 16, 6, 1)},
		{"animated WebP", testimage.AnimatedWebP(512, 512)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := allocated()
			_, err := avatar.Process(tc.data)
			spent := allocated() - before
			var ce *avatar.CostError
			if !errors.Is(err, avatar.ErrTooCostly) || !errors.As(err, &ce) || ce.Reason == "" {
				t.Fatalf("Process = %v, want a *CostError matching ErrTooCostly", err)
			}
			if spent > 64<<10 {
				t.Errorf("refusing it allocated %d bytes, want < 64 KiB (it was decoded)", spent)
			}
		})
	}
}

// TestPhonePhotosPass: the largest photos a phone takes, 4096×3072 with
// 4:2:0 sampling, pass, baseline and progressive (the structure libjpeg's
// progressive mode writes: ten scans), and so does Go's own encoding of a
// picture that size. Their price stays under the bounds.
func TestPhonePhotosPass(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes three 12-megapixel images")
	}
	var real bytes.Buffer
	if err := jpeg.Encode(&real, testimage.Picture(4096, 3072), &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"baseline 4:2:0", testimage.PhoneJPEG(4096, 3072, false)},
		{"progressive 4:2:0, ten scans", testimage.PhoneJPEG(4096, 3072, true)},
		{"image/jpeg encoding", real.Bytes()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := avatar.Estimate(tc.data)
			if err != nil {
				t.Fatalf("Estimate: %v", err)
			}
			before := allocated()
			out, err := avatar.Process(tc.data)
			spent := allocated() - before
			if err != nil {
				t.Fatalf("Process: %v", err)
			}
			if err := testimage.Check(out, avatar.Size); err != nil {
				t.Fatal(err)
			}
			if int64(spent) > c.Bytes+2<<20 {
				t.Errorf("Process allocated %d bytes, over the estimate of %d", spent, c.Bytes)
			}
		})
	}
}

// TestEstimateBoundsAllocation: for accepted files of every type and
// shape, what Process allocates is within the estimate (plus the stored
// PNG's encoding and the decoders' small fixed buffers): the price is a
// bound, not a guess.
func TestEstimateBoundsAllocation(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"png rgba", testimage.PNG(900, 700)},
		{"jpeg with exif", testimage.JPEGWithGPS(1200, 800)},
		{"gif", testimage.GIF(600, 400)},
		{"webp lossy", testimage.WebP("photo-exif.webp")},
		{"webp lossless", testimage.WebP("lossless.webp")},
		{"progressive 4:2:0", testimage.PhoneJPEG(1024, 768, true)},
		{"cmyk progressive", testimage.CMYKBomb(1024, 1024)},
		{"scan bomb, few scans", testimage.ScanBomb(1024, 1024, 20)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkCost(t, tc.data)
		})
	}
}

// checkCost is the property of FuzzProcess: the estimate is deterministic;
// a refusal from the headers allocates almost nothing; and whatever
// Process then does, accepted or refused by the decoder, allocates no
// more than the estimate and a fixed allowance.
func checkCost(t *testing.T, data []byte) {
	t.Helper()
	c, estErr := avatar.Estimate(data)
	if c2, err2 := avatar.Estimate(data); c2 != c || (err2 == nil) != (estErr == nil) {
		t.Fatalf("Estimate is not deterministic: %+v, %v then %+v, %v", c, estErr, c2, err2)
	}
	// What Process allocates is deterministic; what else the process
	// allocates meanwhile (the fuzzing engine, a package's first-use
	// initialisation) is not: the least of two runs is Process's own.
	var err error
	spent := int64(math.MaxInt64)
	for range 2 {
		before := allocated()
		_, err = avatar.Process(data)
		spent = min(spent, int64(allocated()-before))
	}
	const allowance = 1 << 20 // the encoder, zlib and LZW tables, the orientation's copy
	switch {
	case estErr != nil && (err == nil || err.Error() != estErr.Error()):
		t.Fatalf("Estimate refused with %v but Process said %v", estErr, err)
	case estErr != nil && spent > 64<<10:
		t.Fatalf("a refusal from the headers (%v) allocated %d bytes", estErr, spent)
	case estErr == nil && spent > c.Bytes+int64(len(data))+allowance:
		t.Fatalf("Process allocated %d bytes, over the estimate %d (+%d) (err %v)", spent, c.Bytes, len(data)+allowance, err)
	}
}
