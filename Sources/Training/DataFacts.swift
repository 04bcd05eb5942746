import Data
import Foundation

/// What a worker must know of the whole data set to train on its shard alone, told by its server, which read it
/// all: how many samples the training file holds and how many are trained on, the widths, the classes, and the
/// scaling fitted on every training row. With it a worker builds the very model its server holds, and reads only
/// its shard's rows.
public struct DataFacts: Sendable, Equatable {
    /// Samples in the training file, before `data.test_fraction` holds some out.
    public var fileRows: Int
    /// Rows trained on: the file's, less any held out.
    public var trainRows: Int
    public var featureCount: Int
    public var targetWidth: Int
    /// Classes of a classification task; nil for regression.
    public var classes: Int?
    /// What each class index stands for, sorted, when the labels were class names.
    public var classNames: [String]?
    /// The scaling every row takes; nil with `data.scale: none`.
    public var scaler: FeatureScaler?

    public init(fileRows: Int, trainRows: Int, featureCount: Int, targetWidth: Int, classes: Int?, classNames: [String]?, scaler: FeatureScaler?) {
        self.fileRows = fileRows
        self.trainRows = trainRows
        self.featureCount = featureCount
        self.targetWidth = targetWidth
        self.classes = classes
        self.classNames = classNames
        self.scaler = scaler
    }

    /// The facts as JSON, each scaling statistic as its float32 bit pattern, so that it arrives bit for bit.
    public var json: String {
        let fields = Fields(file_rows: fileRows, train_rows: trainRows, features: featureCount, target_width: targetWidth, classes: classes,
                            class_names: classNames, scale_shift_bits: scaler?.shift.map(\.bitPattern),
                            scale_divisor_bits: scaler?.divisor.map(\.bitPattern))
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try! encoder.encode(fields), as: UTF8.self)
    }

    /// Reads facts written by `json`, refusing any that no server would send.
    public init(json: String) throws(DataFactsError) {
        let f: Fields
        do { f = try JSONDecoder().decode(Fields.self, from: Data(json.utf8)) } catch {
            throw DataFactsError("not the data facts' JSON (\(error))")
        }
        guard f.file_rows >= 1, (1 ... f.file_rows).contains(f.train_rows) else {
            throw DataFactsError("\(f.train_rows) training rows of a file of \(f.file_rows)")
        }
        guard f.features >= 1, f.target_width >= 1 else { throw DataFactsError("\(f.features) features and \(f.target_width) targets a row") }
        if let classes = f.classes, classes < 2 { throw DataFactsError("\(classes) classes; a classifier has at least 2") }
        if let names = f.class_names {
            guard let classes = f.classes, !names.isEmpty, names.count <= classes else {
                throw DataFactsError("\(names.count) class names for \(f.classes.map(String.init) ?? "no") classes")
            }
            guard zip(names, names.dropFirst()).allSatisfy({ $0 < $1 }), !names.contains("") else {
                throw DataFactsError("class names not sorted, repeated or empty")
            }
        }
        var scaler: FeatureScaler?
        switch (f.scale_shift_bits, f.scale_divisor_bits) {
        case (nil, nil): scaler = nil
        case let (shift?, divisor?):
            let shifts = shift.map(Float.init(bitPattern:)), divisors = divisor.map(Float.init(bitPattern:))
            guard shifts.count == f.features, divisors.count == f.features else {
                throw DataFactsError("scaling for \(shifts.count) and \(divisors.count) features where rows have \(f.features)")
            }
            guard shifts.allSatisfy(\.isFinite), divisors.allSatisfy({ $0.isFinite && $0 != 0 }) else {
                throw DataFactsError("a scaling statistic that is not finite, or a divisor of 0")
            }
            scaler = FeatureScaler(shift: shifts, divisor: divisors)
        default: throw DataFactsError("a scaling shift without its divisor, or the reverse")
        }
        self.init(fileRows: f.file_rows, trainRows: f.train_rows, featureCount: f.features, targetWidth: f.target_width, classes: f.classes,
                  classNames: f.class_names, scaler: scaler)
    }

    /// The JSON's fields, named as written.
    private struct Fields: Codable {
        var file_rows: Int
        var train_rows: Int
        var features: Int
        var target_width: Int
        var classes: Int?
        var class_names: [String]?
        var scale_shift_bits: [UInt32]?
        var scale_divisor_bits: [UInt32]?
    }
}

/// Data facts that no server would send: the peer runs another release, or something else answered.
public struct DataFactsError: Error, CustomStringConvertible {
    public var message: String
    init(_ message: String) { self.message = message }
    public var description: String { "the server's data facts are malformed: \(message)" }
}
