package avatar

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"

	"golang.org/x/image/draw"
	"golang.org/x/image/webp"
)

// Uploaded images: what is accepted, and how it is turned into the one
// format that is stored and served (docs/architecture.md, "Uploaded
// avatars").
const (
	// MaxUploadBytes bounds an uploaded file.
	MaxUploadBytes = 5 << 20
	// MaxSide bounds either side of an uploaded image, and MaxPixels its
	// area; both are checked from the header, before any pixel is decoded.
	MaxSide   = 4096
	MaxPixels = 4096 * 4096
	// Size is the side of every stored avatar image (square, PNG).
	Size = 256
	// MaxStoredBytes bounds a stored PNG: an opaque 256×256 image that does
	// not compress at all still fits (3 bytes a pixel plus PNG's framing).
	MaxStoredBytes = 200 << 10
)

// Errors of Process (and Upload), one per refusal the web layer answers.
var (
	// ErrUnsupportedType: the bytes are not PNG, JPEG, GIF or WebP (the
	// type is decided by the content, never by a name). SVG is refused
	// here: it is a document that can carry scripts.
	ErrUnsupportedType = errors.New("avatar: unsupported image type (PNG, JPEG, GIF or WebP)")
	// ErrDimensions: the header claims a side above MaxSide or an area above
	// MaxPixels (or an empty image).
	ErrDimensions = errors.New("avatar: image dimensions out of bounds")
	// ErrUndecodable: the header looked right but the image does not decode
	// (truncated or corrupt).
	ErrUndecodable = errors.New("avatar: the image cannot be decoded")
)

// format is one accepted image type: how to recognise it by its first bytes,
// its decoders, and how to price a decode from its headers (cost.go).
type format struct {
	name   string
	match  func(b []byte) bool
	config func(io.Reader) (image.Config, error)
	decode func(io.Reader) (image.Image, error)
	cost   func(data []byte, w, h int) (Cost, string, error)
}

var formats = []format{
	{"png", func(b []byte) bool { return bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) }, png.DecodeConfig, png.Decode, pngCost},
	{"jpeg", func(b []byte) bool { return bytes.HasPrefix(b, []byte("\xff\xd8\xff")) }, jpeg.DecodeConfig, jpeg.Decode, jpegCost},
	// gif.Decode returns the first frame of an animation.
	{"gif", func(b []byte) bool {
		return bytes.HasPrefix(b, []byte("GIF87a")) || bytes.HasPrefix(b, []byte("GIF89a"))
	}, gif.DecodeConfig, gif.Decode, gifCost},
	{"webp", func(b []byte) bool {
		return len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP"
	}, webp.DecodeConfig, webp.Decode, webpCost},
}

// sniff returns the format of data from its first bytes.
func sniff(data []byte) (format, bool) {
	for _, f := range formats {
		if f.match(data) {
			return f, true
		}
	}
	return format{}, false
}

// Process turns an uploaded file into the stored form: priced from its
// headers first (Estimate: the type sniffed from the content,
// ErrUnsupportedType; the dimensions, ErrDimensions; the memory and work
// the decode would take, ErrTooCostly; so a bomb never allocates its
// pixels), then decoded (ErrUndecodable), centre-cropped to a square,
// resized to Size×Size with Catmull-Rom, turned upright as a JPEG's EXIF
// orientation says, and encoded as PNG. Nothing of the original file but
// its pixels survives: no metadata (EXIF, GPS, comments, ICC profiles), no
// trailing bytes (a polyglot's ZIP). Process does not bound how many
// decodes run at once; Service.Upload does.
func Process(data []byte) ([]byte, error) {
	if _, err := Estimate(data); err != nil {
		return nil, err
	}
	return decodeAndScale(data)
}

// decodeAndScale is Process after the price was accepted.
func decodeAndScale(data []byte) ([]byte, error) {
	f, _ := sniff(data)
	cfg, err := f.config(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %s header: %v", ErrUndecodable, f.name, err)
	}
	src, err := decodeSafely(f, data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrUndecodable, f.name, err)
	}
	b := src.Bounds()
	if b.Empty() || b.Dx() > cfg.Width || b.Dy() > cfg.Height {
		// The header promised one size and the pixels came in another (a
		// GIF's first frame may be smaller than its screen, never larger).
		return nil, fmt.Errorf("%w: %s decoded as %v, header said %d×%d", ErrUndecodable, f.name, b, cfg.Width, cfg.Height)
	}
	img := square(src)
	if f.name == "jpeg" {
		img = orient(img, jpegOrientation(data))
	}
	return encode(img)
}

// decodeSafely decodes data, turning a decoder panic (a bug in a decoder
// reached by crafted input) into an error.
func decodeSafely(f format, data []byte) (img image.Image, err error) {
	defer func() {
		if v := recover(); v != nil {
			img, err = nil, fmt.Errorf("decoder panic: %v", v)
		}
	}()
	return f.decode(bytes.NewReader(data))
}

// square returns src's centred square, scaled to Size×Size. The
// destination is *image.RGBA, which x/image/draw has fast paths for (from
// YCbCr, RGBA, NRGBA, Gray and Paletted sources); any other destination
// goes pixel by pixel through color.Color, several times slower.
func square(src image.Image) *image.RGBA {
	b := src.Bounds()
	side := min(b.Dx(), b.Dy())
	x0 := b.Min.X + (b.Dx()-side)/2
	y0 := b.Min.Y + (b.Dy()-side)/2
	crop := image.Rect(x0, y0, x0+side, y0+side)
	dst := image.NewRGBA(image.Rect(0, 0, Size, Size))
	draw.CatmullRom.Scale(dst, dst.Bounds(), src, crop, draw.Src, nil)
	return dst
}

// encode writes img as PNG, within MaxStoredBytes: an image with
// transparency whose pixels do not compress is flattened onto white and
// written opaque (3 bytes a pixel), which always fits.
func encode(img *image.RGBA) ([]byte, error) {
	enc := png.Encoder{CompressionLevel: png.DefaultCompression}
	var buf bytes.Buffer
	if err := enc.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("avatar: encode png: %w", err)
	}
	if buf.Len() <= MaxStoredBytes {
		return buf.Bytes(), nil
	}
	flat := image.NewRGBA(img.Bounds())
	draw.Draw(flat, flat.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	draw.Draw(flat, flat.Bounds(), img, image.Point{}, draw.Over)
	buf.Reset()
	if err := enc.Encode(&buf, flat); err != nil {
		return nil, fmt.Errorf("avatar: encode png: %w", err)
	}
	if buf.Len() > MaxStoredBytes {
		return nil, fmt.Errorf("avatar: encoded png is %d bytes, over %d", buf.Len(), MaxStoredBytes)
	}
	return buf.Bytes(), nil
}

// decodeSlots bounds the decodes in flight: each may allocate up to
// MaxDecodeBytes, so with the server's one slot, decoding never holds more
// than that (docs/architecture.md, "Uploaded avatars").
type decodeSlots chan struct{}

func (d decodeSlots) acquire(ctx context.Context) error {
	select {
	case d <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (d decodeSlots) release() { <-d }
