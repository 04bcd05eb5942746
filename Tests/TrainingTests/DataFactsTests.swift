import Data
import Foundation
import Testing
import Training

/// The data facts a server tells a worker travel as JSON: they must arrive bit for bit, and facts no server would
/// send must be refused rather than build another model.
@Suite struct DataFactsTests {
    static let scaler = FeatureScaler(shift: [0, -0.0, Float.leastNormalMagnitude / 4, .greatestFiniteMagnitude], divisor: [1, 3.3333333, .leastNonzeroMagnitude, 7])
    static let facts = DataFacts(fileRows: 10, trainRows: 8, featureCount: 4, targetWidth: 1, classes: 3, classNames: ["a", "b c", "é"],
                                 scaler: scaler)

    @Test func factsRoundTripBitForBit() throws {
        let read = try DataFacts(json: Self.facts.json)
        #expect(read == Self.facts)
        #expect(read.scaler!.shift.map(\.bitPattern) == Self.scaler.shift.map(\.bitPattern), "-0 and subnormals keep their bits")
        let regression = DataFacts(fileRows: 3, trainRows: 3, featureCount: 2, targetWidth: 2, classes: nil, classNames: nil, scaler: nil)
        #expect(try DataFacts(json: regression.json) == regression)
    }

    /// `facts`' JSON with `key` set to `value` (or taken out, when nil).
    func json(setting key: String, to value: Any?) throws -> String {
        var object = try #require(try JSONSerialization.jsonObject(with: Data(Self.facts.json.utf8)) as? [String: Any])
        object[key] = value
        return String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }

    func refusal(_ json: String) -> String? {
        do { _ = try DataFacts(json: json) } catch { return error.message }
        return nil
    }

    @Test func malformedFactsAreRefused() throws {
        #expect(refusal(try json(setting: "file_rows", to: 10)) == nil)
        #expect(refusal("") != nil && refusal("{}") != nil && refusal("[1]") != nil)
        #expect(refusal(try json(setting: "features", to: nil))?.hasPrefix("not the data facts' JSON") == true)
        #expect(refusal(try json(setting: "train_rows", to: 11)) == "11 training rows of a file of 10")
        #expect(refusal(try json(setting: "train_rows", to: 0)) == "0 training rows of a file of 10")
        #expect(refusal(try json(setting: "target_width", to: 0)) == "4 features and 0 targets a row")
        #expect(refusal(try json(setting: "classes", to: 1)) == "1 classes; a classifier has at least 2")
        #expect(refusal(try json(setting: "classes", to: 2)) == "3 class names for 2 classes")
        #expect(refusal(try json(setting: "classes", to: nil)) == "3 class names for no classes")
        #expect(refusal(try json(setting: "class_names", to: ["b", "a"])) == "class names not sorted, repeated or empty")
        #expect(refusal(try json(setting: "class_names", to: ["a", "a"])) == "class names not sorted, repeated or empty")
        #expect(refusal(try json(setting: "class_names", to: ["", "a"])) == "class names not sorted, repeated or empty")
        #expect(refusal(try json(setting: "scale_shift_bits", to: [0, 0, 0])) == "scaling for 3 and 4 features where rows have 4")
        #expect(refusal(try json(setting: "scale_divisor_bits", to: nil)) == "a scaling shift without its divisor, or the reverse")
        #expect(refusal(try json(setting: "scale_divisor_bits", to: [1, 1, 0, 1])) == "a scaling statistic that is not finite, or a divisor of 0")
        #expect(refusal(try json(setting: "scale_shift_bits", to: [0, 0, Float.nan.bitPattern, 0]))
                == "a scaling statistic that is not finite, or a divisor of 0")
    }
}
