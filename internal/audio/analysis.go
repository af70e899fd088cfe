package audio

import "math"

// RMS returns the root-mean-square level of samples as a fraction of full
// scale: a full-scale sine gives about 0.707.
func RMS(samples []int16) float64 {
	if len(samples) == 0 {
		return 0
	}
	var sum float64
	for _, x := range samples {
		v := float64(x)
		sum += v * v
	}
	return math.Sqrt(sum/float64(len(samples))) / 32768
}
