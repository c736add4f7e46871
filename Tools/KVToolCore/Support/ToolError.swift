import KVStore

/// The exit statuses of `kvtool`: 0 and 1 as grep and bbolt use them, the rest from `sysexits.h`.
enum ExitStatus {
    static let ok: Int32 = 0
    /// A negative answer: a key not found, problems found.
    static let negative: Int32 = 1
    /// `EX_USAGE`: bad arguments (ArgumentParser's validation errors too).
    static let usage: Int32 = 64
    /// `EX_DATAERR`: a store, segment or input too damaged (or too new) to work on.
    static let dataError: Int32 = 65
    /// `EX_NOINPUT`: no such store, or an input file that is missing or unreadable.
    static let noInput: Int32 = 66
    /// `EX_UNAVAILABLE`: the command exists but this build cannot do it yet.
    static let unavailable: Int32 = 69
    /// `EX_SOFTWARE`: an internal error.
    static let software: Int32 = 70
    /// `EX_CANTCREAT`: an output that already exists.
    static let cannotCreate: Int32 = 73
    /// `EX_IOERR`: a system call failed.
    static let ioError: Int32 = 74
    /// `EX_TEMPFAIL`: another process has the store open for writing; try again later.
    static let locked: Int32 = 75
}

/// A failure that ends the command: a one-line message for stderr and the exit status.
struct ToolError: Error {
    var status: Int32
    var message: String

    init(_ status: Int32, _ message: String) {
        self.status = status
        self.message = message
    }

    /// Ends the command with `status` and no message (the output already said why).
    static func silent(_ status: Int32) -> ToolError { ToolError(status, "") }

    /// Translates a library error; `subject` names the store or file when the error has no path.
    init(_ error: KVError, subject: String) {
        // A lock error names the store, not the file or directory the lock is taken on.
        var text = (error.code == .locked ? subject : error.path ?? subject) + ": "
        switch error.code {
        case .locked:
            // Only a writer holds the lock: readers take none.
            text += LiveAccess.lockedMessage(store: subject)
        case .incompatibleFormat:
            text += error.message + "; this kvtool is too old for it"
        default:
            text += error.message
        }
        if let offset = error.offset { text += " (at offset \(offset))" }
        self.init(Self.status(for: error), text)
    }

    /// The exit status for a library error.
    static func status(for error: KVError) -> Int32 {
        switch error.code {
        case .notAStore: return ExitStatus.noInput
        case .locked: return ExitStatus.locked
        case .corruption, .incompatibleFormat: return ExitStatus.dataError
        case .io: return ExitStatus.ioError
        case .invalidArgument: return ExitStatus.usage
        case .notABackup: return ExitStatus.cannotCreate
        default: return ExitStatus.software
        }
    }

    /// Wraps any error thrown while working on `subject`.
    static func wrap(_ error: any Error, subject: String) -> ToolError {
        if let error = error as? ToolError { return error }
        if let error = error as? KVError { return ToolError(error, subject: subject) }
        return ToolError(ExitStatus.software, "\(subject): \(error)")
    }
}

/// Runs `body`, turning library errors into ``ToolError``s that name `subject`.
func translatingErrors<R>(subject: String, _ body: () throws -> R) throws -> R {
    do { return try body() } catch { throw ToolError.wrap(error, subject: subject) }
}
