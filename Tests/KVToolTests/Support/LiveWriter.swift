import Foundation

/// A real writer in another process: `kvstore-crash-child --scripted-writer STORE`, which opens the
/// store for writing (creating it if needed: 64 KiB segments, no automatic compaction), keeps it
/// open, and does what it is told, one command at a time (Tests/CrashChild/LiveWriter.swift).
/// Each command returns once the writer has done it and answered.
final class LiveWriter {
    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    /// The writer's process id.
    let pid: Int32

    /// The binary, built next to `kvtool`.
    static var path: String { URL(fileURLWithPath: KVTool.path).deletingLastPathComponent().appendingPathComponent("kvstore-crash-child").path }

    /// Starts the writer and waits until it has the store open.
    init(store: String) throws {
        process.executableURL = URL(fileURLWithPath: Self.path)
        process.arguments = ["--scripted-writer", store]
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        pid = process.processIdentifier
        let first = try Self.readLine(output)
        guard first == "open \(pid)" else { throw Failure(message: "the writer said \(first.debugDescription) instead of opening") }
    }

    struct Failure: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    /// Sends one command and returns the writer's answer (`ok`…).
    @discardableResult
    func send(_ command: String) throws -> String {
        try input.fileHandleForWriting.write(contentsOf: Data((command + "\n").utf8))
        let answer = try Self.readLine(output)
        guard answer.hasPrefix("ok") else { throw Failure(message: "\(command): the writer answered \(answer.debugDescription)") }
        return answer
    }

    /// Sets `key` to `value` (one line of text, no newline).
    func set(_ key: String, _ value: String) throws { try send("set \(key) \(value)") }

    /// Closes the store (cleanly) and waits for the writer to exit; returns its exit status.
    @discardableResult
    func close() -> Int32 {
        if process.isRunning {
            try? input.fileHandleForWriting.close()
            process.waitUntilExit()
        }
        return process.terminationStatus
    }

    deinit {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    /// One line from the writer's stdout, read byte by byte (nothing read past it).
    private static func readLine(_ pipe: Pipe) throws -> String {
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let n = read(pipe.fileHandleForReading.fileDescriptor, &byte, 1)
            if n < 0 && errno == EINTR { continue }
            guard n == 1 else { throw Failure(message: "the writer exited (output so far: \(String(decoding: bytes, as: UTF8.self).debugDescription))") }
            if byte == 0x0A { return String(decoding: bytes, as: UTF8.self) }
            bytes.append(byte)
        }
    }
}
