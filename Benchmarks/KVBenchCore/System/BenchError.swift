#if canImport(Glibc)
import Glibc
#endif

/// An error of the benchmark harness itself (not of an engine), with a message for the user.
public struct BenchError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, in words.
    public let description: String

    /// An error with the given message.
    public init(_ description: String) { self.description = description }

    /// An error for a failed system call, with `errno` decoded.
    static func system(_ call: String, _ path: String, errno code: Int32 = errno) -> BenchError {
        BenchError("\(call) \(path): \(String(cString: strerror(code))) (errno \(code))")
    }
}
