package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/mmapkit/mmapkit/internal/units"
)

// finishState fills in the checksum verdicts, the speed relative to pread and
// the recommendation of a state.
func finishState(sr *StateReport) {
	var ref *Result
	var pread *Result
	for i := range sr.Results {
		r := &sr.Results[i]
		if r.Error != "" || r.Skipped != "" {
			continue
		}
		if r.Lang == "go" && ref == nil {
			ref = r
		}
		if r.Method == "pread" || r.Method == "seq-pread-1m" {
			pread = r
			ref = r
		}
	}
	for i := range sr.Results {
		r := &sr.Results[i]
		if r.Error != "" || r.Skipped != "" || ref == nil {
			continue
		}
		if r.Lang == "python" {
			r.ChecksumOK = r.Sums.Spot == ref.Sums.Spot
		} else {
			r.ChecksumOK = r.Sums == ref.Sums
		}
		if pread != nil && r.Total > 0 {
			r.SpeedVsPread = float64(pread.Total) / float64(r.Total)
		}
	}
	sr.Recommendation = recommend(sr, pread)
}

// lowMemory is the RssAnon above which a method counts as holding the data in
// the process's own memory.
const lowMemory = 64 << 20

func recommend(sr *StateReport, pread *Result) string {
	var best, bestLow, bestPy *Result
	for i := range sr.Results {
		r := &sr.Results[i]
		if r.Error != "" || r.Skipped != "" || !r.ChecksumOK {
			continue
		}
		if r.Lang == "python" {
			if bestPy == nil || r.Total < bestPy.Total {
				bestPy = r
			}
			continue
		}
		if best == nil || r.Total < best.Total {
			best = r
		}
		if r.Peak.RssAnon-r.Baseline.RssAnon < lowMemory && (bestLow == nil || r.Total < bestLow.Total) {
			bestLow = r
		}
	}
	if best == nil {
		return "no method completed with the right checksum"
	}
	var b strings.Builder
	pick := best
	if best != bestLow && bestLow != nil {
		pick = bestLow
	}
	fmt.Fprintf(&b, "%s: use %s (%.3f s", sr.State, pick.Method, float64(pick.Total))
	if pread != nil && pick != pread {
		fmt.Fprintf(&b, ", %.2fx the speed of pread", pick.SpeedVsPread)
	}
	b.WriteString(")")
	if pick != best {
		fmt.Fprintf(&b, "; %s is faster (%.3f s) but holds %s of the file in its own memory", best.Method, float64(best.Total), units.FormatBytes(best.Peak.RssAnon))
	}
	if bestPy != nil {
		fmt.Fprintf(&b, "; %.2fx the speed of Python's best (%s)", float64(bestPy.Total)/float64(pick.Total), bestPy.Method)
	}
	return b.String()
}

// WriteText writes the report as tables, one per cache state.
func (rep *Report) WriteText(w io.Writer) error {
	m := rep.Machine
	fmt.Fprintf(w, "file %s: %s", rep.File, units.FormatBytes(rep.Size))
	if rep.Kind == "random" {
		fmt.Fprintf(w, ", %s of %s (random, block-aligned, seed %d)", readsText(rep.Reads), units.FormatBytes(rep.Block), rep.Seed)
	} else {
		fmt.Fprintf(w, ", sequential scan in %s chunks", units.FormatBytes(rep.Block))
	}
	fmt.Fprintf(w, "\nmachine: %s/%s, %d CPUs %s, %s RAM, kernel %s, read_ahead_kb %s, %s\n", m.OS, m.Arch, m.CPUs, m.CPU, units.FormatBytes(m.Memory), m.Kernel, m.ReadAhead, m.GoVersion)
	if rep.Python != "" {
		fmt.Fprintf(w, "python: %s\n", rep.Python)
	}
	for _, sr := range rep.States {
		fmt.Fprintf(w, "\n== %s\n", sr.Label)
		for _, n := range sr.Notes {
			fmt.Fprintf(w, "   note: %s\n", n)
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		per := "ns/read"
		if rep.Kind == "sequential" {
			per = "GB/s"
		}
		spread := ""
		if rep.Repeat > 1 {
			spread = fmt.Sprintf("\tmin-max of %d", rep.Repeat)
		}
		fmt.Fprintf(tw, "method\ttotal s%s\tsetup s\taccess s\t%s\tRssAnon\tRssFile\tminor flt\tmajor flt\tvs pread\tchecksum\t\n", spread, per)
		for _, r := range sr.Results {
			if r.Skipped != "" {
				fmt.Fprintf(tw, "%s\tskipped: %s\t\n", r.Method, r.Skipped)
				continue
			}
			if r.Error != "" {
				fmt.Fprintf(tw, "%s\tfailed: %s\t\n", r.Method, r.Error)
				continue
			}
			rate := fmt.Sprintf("%.0f", r.NsPerOp)
			if rep.Kind == "sequential" {
				rate = fmt.Sprintf("%.2f", float64(r.Bytes)/float64(r.Access)/1e9)
			}
			sum := fmt.Sprintf("%016x", r.Sums.Full)
			if r.Lang == "python" {
				sum = fmt.Sprintf("spot %016x", r.Sums.Spot)
			}
			if r.ChecksumOK {
				sum += " ok"
			} else {
				sum += " MISMATCH"
			}
			mm := ""
			if rep.Repeat > 1 {
				mm = fmt.Sprintf("\t%.3f-%.3f", float64(r.MinTotal), float64(r.MaxTotal))
			}
			fmt.Fprintf(tw, "%s\t%.3f%s\t%.3f\t%.3f\t%s\t%s\t%s\t%d\t%d\t%.2fx\t%s\t\n", r.Method, float64(r.Total), mm, float64(r.Setup), float64(r.Access), rate,
				units.FormatBytes(r.Peak.RssAnon), units.FormatBytes(r.Peak.RssFile), r.Faults.Minor, r.Faults.Major, r.SpeedVsPread, sum)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, r := range sr.Results {
			if r.FloorNs > 0 {
				fmt.Fprintf(w, "   mapped-copy floor (%s repeated with the pages mapped): %.0f ns/read, %.3f s per %s\n", r.Method, r.FloorNs, r.FloorNs*float64(r.Reads)/1e9, readsText(r.Reads))
			}
		}
		fmt.Fprintf(w, "   recommendation: %s\n", sr.Recommendation)
	}
	fmt.Fprintf(w, "\nRssAnon is the process's own memory, RssFile the page cache it has mapped; \"vs pread\" is pread's time divided by the method's.\nEach method ran in its own process; checksums prove every method read the same bytes (Python: one sampled word per block).\n")
	return nil
}

// readsText says "1 read" or "100000 reads".
func readsText(n int) string {
	if n == 1 {
		return "1 read"
	}
	return fmt.Sprintf("%d reads", n)
}
