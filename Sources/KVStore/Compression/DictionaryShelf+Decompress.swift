/// Where every reader of the log turns a compressed value back into its bytes: gets, cursors,
/// compaction, `verify` and the tools (FORMAT.md §3.2).
extension DictionaryShelf {
    /// Decompresses the stored value of a record with `header` (compressed, plain or against a
    /// dictionary) into exactly `header.rawValueLength` bytes at `out`. A value that does not
    /// decompress to exactly that is `.corruption` at `path`/`offset`; one whose dictionary is
    /// missing or damaged throws that dictionary's `.corruption`.
    @inline(__always)
    func decompress(_ stored: UnsafeRawBufferPointer, header: RecordHeader, into out: UnsafeMutableRawPointer,
                    path: @autoclosure () -> String, offset: Int) throws(KVError) {
        let ok: Bool
        if header.dictionaryID == 0 {
            ok = LZ4.decompress(stored, into: out, rawLength: header.rawValueLength)
        } else {
            do {
                ok = try with(header.dictionaryID) { d in d.decompress(stored, into: out, rawLength: header.rawValueLength) }
            } catch let error as KVError {
                throw error
            } catch {
                throw KVError(.corruption, "\(error)", path: path(), offset: Int64(offset))
            }
        }
        guard ok else {
            let against = header.dictionaryID == 0 ? "" : " against dictionary \(header.dictionaryID)"
            throw KVError.corruption("compressed value does not decompress\(against)", path: path(), offset: Int64(offset))
        }
    }

    /// The value of a compressed record, in a new array (see ``decompress(_:header:into:path:offset:)``).
    func decompressed(_ stored: UnsafeRawBufferPointer, header: RecordHeader, path: @autoclosure () -> String,
                      offset: Int) throws(KVError) -> [UInt8] {
        var failure: KVError? = nil
        let value = [UInt8](unsafeUninitializedCapacity: header.rawValueLength) { buffer, count in
            count = 0
            guard let base = buffer.baseAddress else { return }
            do throws(KVError) { try decompress(stored, header: header, into: base, path: path(), offset: offset); count = header.rawValueLength } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        return value
    }
}
