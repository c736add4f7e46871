#if canImport(Glibc)
import Glibc
#endif

/// What the benchmark ran on: CPU model, online cores, OS and the Swift compiler that built kvbench.
public struct HostInfo: Sendable {
    /// CPU model name from /proc/cpuinfo.
    public var cpu: String
    /// Online processors.
    public var cores: Int
    /// Kernel and distribution, e.g. "Linux 6.18 x86_64 (Debian GNU/Linux 12 (bookworm))".
    public var os: String
    /// Compiler version that built this binary, e.g. "6.3.1".
    public var swift: String
    /// L2/L3 cache size as /proc/cpuinfo reports it (db_bench's "CPUCache"), or "".
    public var cpuCache: String

    /// Reads the figures of this machine.
    public static func current() -> HostInfo {
        var cpu = "unknown", cache = ""
        if let info = FileSystem.readText("/proc/cpuinfo") {
            for line in info.split(separator: "\n") {
                let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingSpaces() }
                guard parts.count == 2 else { continue }
                if parts[0] == "model name" && cpu == "unknown" { cpu = parts[1] }
                if parts[0] == "cache size" && cache.isEmpty { cache = parts[1] }
            }
        }
        var name = utsname()
        uname(&name)
        func field<T>(_ value: T) -> String {
            withUnsafeBytes(of: value) { String(cString: $0.baseAddress!.assumingMemoryBound(to: CChar.self)) }
        }
        var os = "\(field(name.sysname)) \(field(name.release)) \(field(name.machine))"
        if let release = FileSystem.readText("/etc/os-release") {
            for line in release.split(separator: "\n") where line.hasPrefix("PRETTY_NAME=") {
                os += " (" + line.dropFirst("PRETTY_NAME=".count).filter { $0 != "\"" } + ")"
            }
        }
        return HostInfo(cpu: cpu, cores: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), os: os,
                        swift: compilerVersion, cpuCache: cache)
    }

    /// The compiler version, from `#if compiler` checks.
    static var compilerVersion: String {
        #if compiler(>=6.5)
        return "6.5+"
        #elseif compiler(>=6.4)
        return "6.4"
        #elseif compiler(>=6.3.2)
        return "6.3.2+"
        #elseif compiler(>=6.3.1)
        return "6.3.1"
        #elseif compiler(>=6.3)
        return "6.3"
        #elseif compiler(>=6.2)
        return "6.2"
        #elseif compiler(>=6.1)
        return "6.1"
        #else
        return "6.0"
        #endif
    }

    /// Whether this binary was built without optimization (a debug build).
    public static var isDebugBuild: Bool { _isDebugAssertConfiguration() }
}

extension Substring {
    /// The text without leading and trailing spaces and tabs.
    func trimmingSpaces() -> String {
        var s = self
        while let c = s.first, c == " " || c == "\t" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" { s = s.dropLast() }
        return String(s)
    }
}
