package avatar

import (
	"bytes"
	"errors"
	"strings"

	"soulbridge/kv"
)

// KeyKinds are the keys avatar keeps in the store (kv.KeyKind; web.StoreKinds
// lists every package's): avatar:<name>, a user's choice; image:<sha256>,
// an uploaded picture (a PNG); imageref:<sha256>:<name>:<nonce>, a user's
// reference to one. The owner each returns is checked against the username
// rules by the caller.
func KeyKinds() []kv.KeyKind {
	return []kv.KeyKind{
		{Name: "avatar", Prefix: keyPrefix, Check: checkAvatarKey},
		{Name: "uploaded image", Prefix: imagePrefix, Check: checkImageKey},
		{Name: "image reference", Prefix: refPrefix, Check: checkRefKey},
	}
}

var pngMagic = []byte("\x89PNG\r\n\x1a\n")

func checkAvatarKey(name string, value []byte) (string, error) {
	if value == nil {
		return name, nil
	}
	c, err := decode(name, value)
	if err != nil {
		return "", errors.New("the avatar record does not decode")
	}
	if c.Username != "" && c.Username != name {
		return "", errors.New("the avatar record names another account")
	}
	return name, nil
}

func checkImageKey(hash string, value []byte) (string, error) {
	if !validHash(hash) {
		return "", errors.New("an image key is image: and 64 lower-case hex digits")
	}
	if value != nil && !bytes.HasPrefix(value, pngMagic) {
		return "", errors.New("the image is not a PNG")
	}
	return "", nil
}

func checkRefKey(rest string, _ []byte) (string, error) {
	parts := strings.Split(rest, ":")
	if len(parts) != 3 || !validHash(parts[0]) || parts[2] == "" {
		return "", errors.New("an image reference is imageref:<sha256>:<username>:<nonce>")
	}
	return parts[1], nil
}
