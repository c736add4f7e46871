/// A one-line progress report on stderr, redrawn in place with `\r` at most ten times a second,
/// and shown only when stderr is a terminal (never in pipes, logs or tests).
final class Progress {
    private let label: String
    private let total: Int?
    private let enabled: Bool
    private var done = 0
    private var lastDraw: Int64 = 0
    private var drawn = false

    /// `total` is the amount that means 100% (bytes, records…), when known.
    init(_ label: String, total: Int? = nil) {
        self.label = label
        self.total = total
        enabled = Console.stderrIsTerminal
    }

    /// Adds `amount` to the work done, redrawing when due.
    func advance(by amount: Int = 1) {
        done += amount
        guard enabled else { return }
        let now = Clock.milliseconds()
        guard now - lastDraw >= 100 else { return }
        lastDraw = now
        draw()
    }

    /// Sets the work done.
    func set(_ value: Int) {
        advance(by: value - done)
    }

    /// Shows the label alone, for work that reports no progress of its own.
    func show() {
        guard enabled else { return }
        Console.stderr("\r\u{1B}[K" + label + "…")
        drawn = true
    }

    /// Clears the line.
    func finish() {
        guard enabled, drawn else { return }
        Console.stderr("\r\u{1B}[K")
        drawn = false
    }

    private func draw() {
        var text = "\r\u{1B}[K" + label + " "
        if let total, total > 0 {
            let percent = min(100.0, Double(done) * 100 / Double(total))
            text += Format.fixed(percent, digits: 1) + "%"
        } else {
            text += Format.count(done)
        }
        Console.stderr(text)
        drawn = true
    }
}
