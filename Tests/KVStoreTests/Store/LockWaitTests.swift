@testable import KVStore
import Foundation
import Testing
import CKVSupport
#if canImport(Glibc)
import Glibc
#endif

/// `Configuration.lockWait`: an open that waits for another process's writer to close.
@Suite("Store: waiting for the lock")
struct LockWaitTests {
    /// Starts a child that creates the store at `directory`, sets `key`, holds the store open for
    /// `holdMilliseconds` and closes it; returns once the child holds the lock.
    static func holdingChild(_ directory: String, key: String, holdMilliseconds: Int) throws -> Process {
        let child = try #require(CrashChildProcess.locate(), "kvstore-crash-child was not found next to the test binary")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: child)
        process.arguments = ["--set-once", directory, key, String(holdMilliseconds)]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // Held once a non-blocking flock of the directory fails (a probe that gets it lets go at once).
        while true {
            let fd = open(directory, O_RDONLY | O_DIRECTORY)
            if fd >= 0 {
                let held = kv_flock(fd, LOCK_EX | LOCK_NB) != 0
                close(fd)
                if held { return process }
            }
            if !process.isRunning { Issue.record("the child ended before it held the store"); return process }
            usleep(1_000)
        }
    }

    @Test func anOpenThatWaitsGetsTheStoreOnceTheOtherWriterCloses() throws {
        try withScratchDirectory { scratch in
            let directory = scratch + "/store"
            let child = try Self.holdingChild(directory, key: "from-child", holdMilliseconds: 400)
            let refused = #expect(throws: KVError.self) { try Store(path: directory) }
            #expect(refused?.code == .locked)
            var configuration = Store.Configuration()
            configuration.lockWait = .seconds(60)
            let store = try Store(path: directory, configuration: configuration)
            #expect(try store.value(forKey: "from-child") == Array("from-child".utf8))
            try store.close()
            child.waitUntilExit()
            #expect(child.terminationStatus == 0)
        }
    }

    @Test func anOpenThatWaitsTooLittleIsRefusedNamingTheHolder() throws {
        try withScratchDirectory { scratch in
            let directory = scratch + "/store"
            let child = try Self.holdingChild(directory, key: "k", holdMilliseconds: 60_000)
            defer {
                kill(child.processIdentifier, SIGKILL)
                child.waitUntilExit()
            }
            var configuration = Store.Configuration()
            configuration.lockWait = .milliseconds(200)
            let error = #expect(throws: KVError.self) { try Store(path: directory, configuration: configuration) }
            #expect(error?.code == .locked)
            #expect(error?.message.contains("pid \(child.processIdentifier)") == true, "\(String(describing: error))")
            #expect(error?.message.contains("waited") == true)
        }
    }
}
