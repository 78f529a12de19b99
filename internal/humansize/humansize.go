// Package humansize formats byte counts for people: the one spelling of a
// size in the command line's output and in the messages of errors.
package humansize

import "fmt"

// Format formats n bytes with binary units: "512 B", "1.5 KiB", "3.0 GiB"
// (one decimal from KiB up, to EiB).
func Format(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
