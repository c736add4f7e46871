#if canImport(Glibc)
import Glibc
#endif

/// Memory and page-fault figures of this process, from `getrusage` and `/proc/self/status`.
public struct ProcessSnapshot: Sendable, Equatable {
    /// Peak resident set size (`VmHWM`) since the last `resetPeak()`, KiB; `ru_maxrss` where VmHWM is missing.
    public var peakRSSKB: Int
    /// Current virtual size (`VmSize`), KiB; grows with whatever a store maps.
    public var vmSizeKB: Int
    /// Minor page faults so far.
    public var minorFaults: Int
    /// Major page faults (faults that read from disk) so far.
    public var majorFaults: Int
    /// Peak anonymous memory (`RssAnon`, sampled every 10 ms: ``AnonymousPeak``) since the last
    /// `resetPeak()`, KiB. Unlike the peak RSS it leaves out the mapped pages of a store's files.
    public var peakAnonKB: Int = 0

    /// The figures now.
    static func now() -> ProcessSnapshot {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        let status = statusFields()
        return ProcessSnapshot(
            peakRSSKB: status["VmHWM"] ?? Int(usage.ru_maxrss),
            vmSizeKB: status["VmSize"] ?? 0,
            minorFaults: Int(usage.ru_minflt),
            majorFaults: Int(usage.ru_majflt),
            peakAnonKB: AnonymousPeak.peakKB()
        )
    }

    /// Starts a new peak: writing 5 to `/proc/self/clear_refs` resets `VmHWM` to the current RSS (Linux ≥ 4.0),
    /// so that each benchmark's peak is its own even though all engines run in one process.
    static func resetPeak() {
        AnonymousPeak.reset()
        let fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = write(fd, "5", 1)
        close(fd)
    }

    /// The numeric (kB) fields of `/proc/self/status`, such as "VmSize", "VmHWM" and "RssAnon".
    static func statusFields() -> [String: Int] {
        guard let text = FileSystem.readText("/proc/self/status") else { return [:] }
        var fields: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":"), line.hasPrefix("Vm") || line.hasPrefix("Rss") else { continue }
            if let value = Int(line[line.index(after: colon)...].filter { $0.isNumber }) {
                fields[String(line[..<colon])] = value
            }
        }
        return fields
    }
}
