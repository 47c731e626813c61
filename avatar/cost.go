package avatar

import (
	"bytes"
	"errors"
	"fmt"
)

// What one upload may cost, decided from the headers before anything is
// decoded (docs/architecture.md, "Uploaded avatars"). Go's decoders
// cannot be cancelled and bound neither their time nor their memory by
// anything but the pixel count, which is not enough: a 300-byte
// four-component progressive JPEG makes image/jpeg allocate 400 MB, and a
// 200 KB one with 6,000 scans keeps it busy for half a minute. So every
// file is priced from its headers, mirroring what the decoder will
// allocate and walk, and refused when the price is over these bounds.
const (
	// MaxDecodeBytes bounds the memory one decode and its scaling allocate.
	// It is set by the largest photo that must pass: a 4096×3072
	// progressive JPEG with 4:2:0 sampling keeps 64 int32 coefficients per
	// 8×8 block (294,912 blocks: 75.5 MB), its pixels (18.9 MB) and the
	// scaler's buffer (256 × 3072 × 32 B: 25.2 MB), 119.6 MB in all.
	MaxDecodeBytes = 120 << 20
	// MaxDecodeWork bounds the decoder's work, in units of about a
	// nanosecond of this project's 2-core reference machine (workPer*
	// below): a 4096×4096 baseline JPEG or PNG costs a few hundred million,
	// a 4096×3072 progressive photo with libjpeg's ten scans about 230
	// million.
	MaxDecodeWork = 600_000_000
	// MaxScans bounds a JPEG's scans: libjpeg writes 10 for a progressive
	// colour photo, optimising encoders a few more.
	MaxScans = 64
)

// Work per unit, measured with image/jpeg, image/png, x/image/webp and
// x/image/draw on the reference machine (bench/uploads): a block that a
// progressive scan passes over in an end-of-band run, a block decoded and
// transformed (baseline, or a progressive image's final reconstruction), a
// source pixel the scaler reads, an uncompressed byte a PNG inflates and
// unfilters, and a byte of the file an entropy decoder reads (whatever the
// format: a dense file costs more to decode than its pixel count says).
const (
	workPerScanBlock  = 40
	workPerBlock      = 300
	workPerScalePixel = 12
	workPerPNGByte    = 4
	workPerInputByte  = 30
)

// ErrTooCostly matches the refusals of an image that would take more
// memory or time to decode than an upload may (*CostError says why).
var ErrTooCostly = errors.New("avatar: the image would cost too much to decode")

// CostError is a refusal from the headers: Reason is a sentence for the
// person who uploaded the file.
type CostError struct{ Reason string }

func (e *CostError) Error() string { return "avatar: " + e.Reason }

// Is makes a *CostError match ErrTooCostly.
func (e *CostError) Is(target error) bool { return target == ErrTooCostly }

// Cost is the price of decoding and scaling one image, from its headers.
type Cost struct {
	// Bytes is what the decoder and the scaler allocate, at most.
	Bytes int64
	// Work is the decoder's and the scaler's work, in MaxDecodeWork's units.
	Work int64
}

// Estimate returns the cost of processing data: an error matching
// ErrUnsupportedType, ErrUndecodable or ErrDimensions for a file Process
// would refuse anyway, or a *CostError (ErrTooCostly) for one whose price
// is over MaxDecodeBytes, MaxDecodeWork or MaxScans. It reads headers only
// and allocates almost nothing.
func Estimate(data []byte) (Cost, error) {
	f, ok := sniff(data)
	if !ok {
		return Cost{}, ErrUnsupportedType
	}
	cfg, err := f.config(bytes.NewReader(data))
	if err != nil {
		return Cost{}, fmt.Errorf("%w: %s header: %v", ErrUndecodable, f.name, err)
	}
	w, h := cfg.Width, cfg.Height
	if err := checkDimensions(w, h); err != nil {
		return Cost{}, err
	}
	c, kind, err := f.cost(data, w, h)
	if err != nil {
		return Cost{}, err
	}
	c = c.plus(scaleCost(w, h))
	c.Work += int64(len(data)) * workPerInputByte
	switch {
	case c.Bytes > MaxDecodeBytes:
		return c, &CostError{fmt.Sprintf("opening this %s of %d×%d would take %d MB of memory, over the %d MB an upload may use; %s",
			kind, w, h, c.Bytes>>20, MaxDecodeBytes>>20, smallerHint)}
	case c.Work > MaxDecodeWork:
		return c, &CostError{fmt.Sprintf("this %s of %d×%d would take too long to open; %s", kind, w, h, smallerHint)}
	}
	return c, nil
}

// smallerHint ends a refusal with what to do instead.
const smallerHint = "save a smaller copy (a 12-megapixel phone photo, 4096×3072, passes) and upload that"

func (c Cost) plus(d Cost) Cost { return Cost{c.Bytes + d.Bytes, c.Work + d.Work} }

// checkDimensions refuses an empty image (ErrUndecodable) and one over
// MaxSide or MaxPixels (ErrDimensions).
func checkDimensions(w, h int) error {
	if w <= 0 || h <= 0 {
		return fmt.Errorf("%w: the image is empty (%d×%d)", ErrUndecodable, w, h)
	}
	if w > MaxSide || h > MaxSide || int64(w)*int64(h) > MaxPixels {
		return fmt.Errorf("%w: %d×%d (at most %d on a side)", ErrDimensions, w, h, MaxSide)
	}
	return nil
}

// scaleCost is what square costs for a w×h source: x/image/draw's kernel
// scaler keeps a float64 RGBA buffer of Size × the crop's height, and reads
// every pixel of the crop.
func scaleCost(w, h int) Cost {
	side := int64(min(w, h))
	return Cost{Bytes: Size*side*32 + Size*Size*4*3, Work: side * side * workPerScalePixel}
}
