import Foundation
import KVStore
import KVStoreTyped
import Testing

/// Typed values over the byte API: every integer width, `Double` specials, `Data`, nested `Codable`.
@Suite("Typed values")
struct TypedValueTests {
    static func withStore(_ body: (Store) throws -> Void) throws {
        let path = NSTemporaryDirectory() + "kvstore-typed-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try Store(path: path)
        try body(store)
        try store.close()
    }

    static func roundTrip<V: StoredValue & Equatable>(_ values: [V], in store: Store, width: Int?) throws {
        for (i, value) in values.enumerated() {
            let key = "\(V.self)-\(i)"
            try store.set(value, forKey: key)
            #expect(try store.value(V.self, forKey: key) == value, "\(V.self) \(value)")
            if let width { #expect(try store.value(forKey: key)?.count == width) }
        }
    }

    @Test func everyIntegerWidthRoundTripsLittleEndian() throws {
        try Self.withStore { store in
            try Self.roundTrip([Int8.min, -1, 0, 1, .max], in: store, width: 1)
            try Self.roundTrip([Int16.min, -1, 0, 258, .max], in: store, width: 2)
            try Self.roundTrip([Int32.min, -1, 0, 1 << 20, .max], in: store, width: 4)
            try Self.roundTrip([Int64.min, -1, 0, 1 << 40, .max], in: store, width: 8)
            try Self.roundTrip([Int.min, -1, 0, .max], in: store, width: 8)
            try Self.roundTrip([UInt8.min, .max], in: store, width: 1)
            try Self.roundTrip([UInt16.min, 0x0102, .max], in: store, width: 2)
            try Self.roundTrip([UInt32.min, 0x0102_0304, .max], in: store, width: 4)
            try Self.roundTrip([UInt64.min, 0x0102_0304_0506_0708, .max], in: store, width: 8)
            try Self.roundTrip([UInt.min, .max], in: store, width: 8)
            // The documented byte order.
            try store.set(UInt32(0x0102_0304), forKey: "order")
            #expect(try store.value(forKey: "order") == [4, 3, 2, 1])
        }
    }

    @Test func doubleSpecialsRoundTripBitExact() throws {
        try Self.withStore { store in
            let specials: [Double] = [0, -0.0, .infinity, -.infinity, .nan, .signalingNaN, .leastNonzeroMagnitude,
                                      .greatestFiniteMagnitude, .pi, -1e-300, Double(bitPattern: 0x7FF8_0000_0000_1234)]
            for (i, value) in specials.enumerated() {
                try store.set(value, forKey: "d\(i)")
                #expect(try store.value(Double.self, forKey: "d\(i)")?.bitPattern == value.bitPattern, "\(value)")
            }
            try store.set(Float(-0.0), forKey: "f")
            #expect(try store.value(Float.self, forKey: "f")?.bitPattern == Float(-0.0).bitPattern)
        }
    }

    @Test func dataStringAndBoolRoundTrip() throws {
        try Self.withStore { store in
            try store.set(Data([0, 1, 2, 255]), forKey: "data")
            #expect(try store.data(forKey: "data") == Data([0, 1, 2, 255]))
            try store.set(Data(), forKey: "empty")
            #expect(try store.data(forKey: "empty") == Data())
            try store.set("héllo", forKey: "s")
            #expect(try store.string(forKey: "s") == "héllo")
            try store.set(true, forKey: "b")
            #expect(try store.value(Bool.self, forKey: "b") == true)
            #expect(try store.value(Int.self, forKey: "absent") == nil)
        }
    }

    @Test func bytesOfAnotherTypeThrowATypedError() throws {
        try Self.withStore { store in
            try store.set(UInt16(7), forKey: "short")
            let error = #expect(throws: TypedValueError.self) { try store.value(Int64.self, forKey: "short") }
            #expect(error == TypedValueError(type: "Int64", storedCount: 2, expectedCount: 8))
            try store.set([2], forKey: "not-bool")
            #expect(throws: TypedValueError.self) { try store.value(Bool.self, forKey: "not-bool") }
        }
    }

    struct Address: Codable, Equatable { var street: String; var zip: Int? }
    struct Person: Codable, Equatable {
        var name: String
        var age: Int
        var addresses: [Address]
        var tags: [String: Double]
        var born: Date
    }

    @Test func nestedCodableRoundTripsThroughEitherCoder() throws {
        try Self.withStore { store in
            let person = Person(name: "Ada", age: 36, addresses: [Address(street: "St James's Square", zip: nil), Address(street: "x", zip: 1)],
                                tags: ["math": 1.5, "poetry": -0.25], born: Date(timeIntervalSince1970: -4_821_120_000))
            try store.set(encoding: person, forKey: "ada")
            #expect(try store.value(decoding: Person.self, forKey: "ada") == person)
            try store.set(encoding: person, forKey: "ada-plist", with: PropertyListValueCoder())
            #expect(try store.value(decoding: Person.self, forKey: "ada-plist", with: PropertyListValueCoder()) == person)
            #expect(try store.value(decoding: Person.self, forKey: "nobody") == nil)
            try store.set("not json", forKey: "bad")
            #expect(throws: DecodingError.self) { try store.value(decoding: Person.self, forKey: "bad") }
        }
    }

    @Test func typedUpdatesAndTransactions() throws {
        try Self.withStore { store in
            for _ in 0 ..< 10 { try store.update(Int.self, forKey: "visits") { ($0 ?? 0) + 1 } }
            #expect(try store.value(Int.self, forKey: "visits") == 10)
            try store.write { batch in
                let visits = try batch.value(Int.self, forKey: "visits") ?? 0
                batch.set(visits * 2, forKey: "visits")
                batch.set(Double(visits) / 4, forKey: "quarter")
            }
            #expect(try store.value(Int.self, forKey: "visits") == 20)
            #expect(try store.value(Double.self, forKey: "quarter") == 2.5)
            #expect(try store.update(Int.self, forKey: "visits") { _ in nil } == nil)
            #expect(try store.containsKey("visits") == false)
        }
    }
}
