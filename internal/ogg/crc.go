package ogg

// crcTable is the lookup table of the Ogg checksum: CRC-32 with polynomial
// 0x04c11db7, initial value 0, no bit reflection and no final xor. It
// differs from hash/crc32 (which is reflected), hence our own table.
var crcTable = func() (t [256]uint32) {
	for i := range t {
		r := uint32(i) << 24
		for range 8 {
			if r&0x80000000 != 0 {
				r = r<<1 ^ 0x04c11db7
			} else {
				r <<= 1
			}
		}
		t[i] = r
	}
	return t
}()

// CRC extends the Ogg checksum crc over b (start with 0). A page's checksum
// is computed over the whole page with its checksum field zeroed.
func CRC(crc uint32, b []byte) uint32 {
	for _, c := range b {
		crc = crc<<8 ^ crcTable[byte(crc>>24)^c]
	}
	return crc
}
