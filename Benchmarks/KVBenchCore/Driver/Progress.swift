import Synchronization

/// db_bench-style progress ("... finished N ops") on stderr, at most once a second; only made when stderr is a
/// terminal. Threads report every few thousand operations, so the cost per operation is nil.
final class Progress: Sendable {
    private let label: String
    private let total: Int
    private let done = Atomic<Int>(0)
    private let nextPrint = Atomic<UInt64>(0)
    private let printed = Atomic<Bool>(false)

    /// Progress for `label`, out of `total` operations (0 when unknown).
    init(label: String, total: Int) {
        self.label = label
        self.total = total
        nextPrint.store(monotonicNanos() + 1_000_000_000, ordering: .relaxed)
    }

    /// Adds `count` finished operations and prints when a second has passed since the last line.
    func add(_ count: Int) {
        let now = done.wrappingAdd(count, ordering: .relaxed).newValue
        let clock = monotonicNanos()
        let due = nextPrint.load(ordering: .relaxed)
        guard clock >= due,
              nextPrint.compareExchange(expected: due, desired: clock + 1_000_000_000, ordering: .relaxed).exchanged
        else { return }
        printed.store(true, ordering: .relaxed)
        var line = "\r... \(label): finished \(now) ops"
        if total > 0 { line += " (\(min(100, now * 100 / total))%)" }
        StandardStreams.error(line + "    ")
    }

    /// Erases the progress line, if one was printed.
    func clear() {
        if printed.load(ordering: .relaxed) { StandardStreams.error("\r" + String(repeating: " ", count: 72) + "\r") }
    }
}
