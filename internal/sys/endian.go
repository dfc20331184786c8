package sys

import "encoding/binary"

// LittleEndian reports whether this machine stores the least significant
// byte of a word first. It is the one byte-order probe in mmapkit.
var LittleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1
