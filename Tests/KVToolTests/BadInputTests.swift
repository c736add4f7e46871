import Foundation
import Testing

/// What every command does with a path that is not a store, a store of a newer format, a store
/// another process holds, and bad arguments: a one-line message, the right exit status, and not
/// a byte changed.
@Suite struct BadInputTests {
    /// Every command that takes a store, with arguments that would otherwise be fine.
    static func commands(_ store: String, _ scratch: String) -> [[String]] {
        [["stat", store], ["segments", store], ["get", store, "k"], ["put", store, "k", "v"], ["delete", store, "k"],
         ["scan", store], ["verify", store], ["reindex", store], ["export", store], ["import", store, "-"],
         ["compact", store], ["salvage", store, "--output", scratch + "/salvaged"]]
    }

    @Test func noSuchStore() throws {
        let dir = try TemporaryDirectory()
        for command in Self.commands(dir.sub("missing"), dir.path) {
            let run = try KVTool.run(command, stdin: [])
            #expect(run.status == 66, "\(command)")
            #expect(run.stderr.hasPrefix("kvtool: \(dir.sub("missing")): no such store"), "\(command)")
            #expect(run.stderr.filter { $0 == "\n" }.count == 1, "\(command)")
            #expect(!FileManager.default.fileExists(atPath: dir.sub("missing")), "\(command)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir.sub("salvaged")))
    }

    @Test func notAStore() throws {
        let dir = try TemporaryDirectory()
        let plain = dir.sub("plain")
        try FileManager.default.createDirectory(atPath: plain, withIntermediateDirectories: true)
        try Data("notes".utf8).write(to: URL(fileURLWithPath: plain + "/notes.txt"))
        let before = DirectorySnapshot(plain)
        for command in Self.commands(plain, dir.path) {
            let run = try KVTool.run(command, stdin: [])
            #expect(run.status == 66, "\(command)")
            #expect(run.stderr == "kvtool: \(plain): not a KVStore directory (no valid STORE file)\n"
                    || run.stderr == "kvtool: \(plain): not a KVStore directory (no STORE file, no segment files)\n", "\(command): \(run.stderr)")
            #expect(DirectorySnapshot(plain) == before, "\(command)")
        }
        let file = try KVTool.run("stat", plain + "/notes.txt")
        #expect(file.status == 66)
        #expect(file.stderr == "kvtool: \(plain)/notes.txt: not a store (not a directory)\n")
    }

    @Test func newerFormatVersion() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s")
        try Fixtures.makeStore(store) { try $0.set("v", forKey: "k") }
        try Fixtures.setFormatMajor(ofStoreFile: store + "/STORE", to: 2)
        let before = DirectorySnapshot(store)
        for command in Self.commands(store, dir.path) {
            let run = try KVTool.run(command, stdin: [])
            #expect(run.status == 65, "\(command)")
            #expect(run.stderr == "kvtool: \(store)/STORE: store has format version 2, this build reads 1; this kvtool is too old for it\n", "\(command): \(run.stderr)")
            #expect(DirectorySnapshot(store) == before, "\(command)")
        }
    }

    /// The commands that only read: they take no lock.
    static let readCommands: Set<String> = ["stat", "segments", "get", "scan", "verify", "export"]

    @Test func aWriterInAnotherProcessLetsReadCommandsInAndKeepsWriteCommandsOut() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s")
        try Fixtures.makeStore(store) { try $0.set("v", forKey: "k") }
        let writer = try LiveWriter(store: store)
        defer { writer.close() }
        let live = "live (writer pid \(writer.pid))"
        let before = DirectorySnapshot(store)
        for command in Self.commands(store, dir.path) {
            let run = try KVTool.run(command, stdin: [])
            if Self.readCommands.contains(command[0]) {
                #expect(run.status == 0, "\(command): \(run.stderr)")
                switch command[0] {
                case "stat": #expect(run.lines.contains("  Access: \(live)"), "\(command)")
                case "verify": #expect(run.lines.first?.hasPrefix(live + ": checked the 0 segments sealed and durable") == true, "\(command): \(run.out)")
                case "get": #expect(run.out == "v", "\(command)")
                default: #expect(run.stderr.hasPrefix("kvtool: note: \(store): \(live): "), "\(command): \(run.stderr)")
                }
            } else {
                #expect(run.status == 75, "\(command): \(run.stderr)")
                #expect(run.stderr == "kvtool: \(store): locked: process \(writer.pid) has the store open for writing; "
                        + "try again when it has closed it (read commands work meanwhile)\n", "\(command)")
            }
            #expect(DirectorySnapshot(store) == before, "\(command)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir.sub("salvaged")))
        #expect(try KVTool.run("delete", store, "missing").status == 75, "refused before it looks for the key")
    }

    /// A build that locks only the LOCK file names no process in the store: read commands work,
    /// write commands are refused without a process id.
    @Test func aLockHeldByAnOlderBuildKeepsWriteCommandsOut() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s")
        try Fixtures.makeStore(store) { try $0.set("v", forKey: "k") }
        let before = DirectorySnapshot(store)
        let holder = try LockHolder(store: store)
        defer { holder.release() }
        #expect(try LockHolder.isHeld(store))
        for command in Self.commands(store, dir.path) {
            let run = try KVTool.run(command, stdin: [])
            if Self.readCommands.contains(command[0]) {
                #expect(run.status == 0, "\(command): \(run.stderr)")
                if command[0] == "stat" { #expect(run.lines.contains("  Access: live (no writer)"), "\(command)") }
            } else {
                #expect(run.status == 75, "\(command): \(run.stderr)")
                #expect(run.stderr == "kvtool: \(store): locked: another process has the store open for writing; "
                        + "try again when it has closed it (read commands work meanwhile)\n", "\(command)")
            }
            #expect(DirectorySnapshot(store) == before, "\(command)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir.sub("salvaged")))
    }

    @Test func inspectionLeavesACrashedStoreAsItIs() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s")
        // A copy taken while the store is open looks like a store whose writer was killed: the
        // index is marked open and the active segment is preallocated.
        let open = try KVStoreHandle(path: dir.sub("live"))
        try open.fill()
        try Fixtures.copyFiles(from: dir.sub("live"), to: store)
        open.close()
        let before = DirectorySnapshot(store)
        for command in [["stat", store], ["segments", store], ["get", store, "key-0001"], ["scan", store], ["verify", store],
                        ["export", store], ["dump", store + "/00000001.seg"], ["get", store, "missing"]] {
            let run = try KVTool.run(command)
            #expect(run.status == (command.last == "missing" ? 1 : 0), "\(command): \(run.stderr)")
            #expect(DirectorySnapshot(store) == before, "\(command)")
        }
    }

    @Test func usageErrors() throws {
        #expect(try KVTool.run("frobnicate").status == 64)
        #expect(try KVTool.run("stat").status == 64)
        #expect(try KVTool.run("stat", "/tmp", "--format", "xml").status == 64)
        #expect(try KVTool.run("stat", "/tmp", "--no-such-option").status == 64)
        let help = try KVTool.run("--help")
        #expect(help.status == 0)
        #expect(help.out.contains("SUBCOMMANDS"))
        #expect(help.out.contains("salvage"))
    }
}
