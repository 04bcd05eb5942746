/// Samples in memory: a dense row-major feature matrix and one or more targets per row.
public struct Dataset: Sendable {
    /// `rows x featureCount` values, row-major.
    public var features: [Float]
    /// `rows x targetWidth` values: a class index, 0/1, or regression targets.
    public var targets: [Float]
    public let featureCount: Int
    public let targetWidth: Int
    /// Where it came from, for error messages ("digits/train.csv" or "synthetic blobs").
    public var source: String
    /// The line of `source` each row was read from, for text formats; lets later checks name the line.
    public var sourceLines: [Int]?
    /// The class each label index stands for, sorted, when the file named its classes; nil when its labels are numbers.
    public private(set) var classNames: [String]?

    public var rows: Int { targets.count / targetWidth }

    public init(features: [Float], targets: [Float], featureCount: Int, targetWidth: Int = 1, source: String, sourceLines: [Int]? = nil) {
        precondition(featureCount > 0 && targetWidth > 0, "feature and target widths must be positive")
        precondition(features.count % featureCount == 0 && targets.count % targetWidth == 0, "ragged dataset")
        precondition(features.count / featureCount == targets.count / targetWidth, "features and targets disagree on the number of rows")
        self.features = features
        self.targets = targets
        self.featureCount = featureCount
        self.targetWidth = targetWidth
        self.source = source
        self.sourceLines = sourceLines
    }

    /// Where row `row` came from, as "file, line N" or "file, sample N".
    public func location(ofRow row: Int) -> String {
        if let lines = sourceLines { return "\(source), line \(lines[row])" }
        return "\(source), sample \(row)"
    }

    /// The rows `indices`, in that order, as a data set of their own (a worker's shard). Rows keep the lines they
    /// were read from, so errors still name the file's line.
    public func selecting(rows indices: [Int]) -> Dataset {
        var x = [Float](repeating: 0, count: indices.count * featureCount), y = [Float](repeating: 0, count: indices.count * targetWidth)
        gather(indices[...], features: &x, targets: &y)
        var selected = Dataset(features: x, targets: y, featureCount: featureCount, targetWidth: targetWidth, source: source,
                               sourceLines: sourceLines.map { lines in indices.map { lines[$0] } })
        selected.classNames = classNames
        return selected
    }

    /// Names the classes of labels read as indices of `names`, in order of first appearance: they become indices of
    /// the sorted names.
    mutating func nameClasses(inOrderOfAppearance names: [String]) {
        classNames = names
        useClassNames(names.sorted())
    }

    /// Takes `names`, sorted and holding every one of `classNames`, as the classes: each label becomes the index of
    /// its name there. Another file of the same job may name classes this one lacks.
    public mutating func useClassNames(_ names: [String]) {
        guard let current = classNames else { preconditionFailure("useClassNames on a data set whose labels are numbers") }
        let position = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, Float($0)) })
        let relabeled = current.map { position[$0]! }
        for i in targets.indices { targets[i] = relabeled[Int(targets[i])] }
        classNames = names
    }

    /// Copies the rows `indices` into contiguous buffers, ready for a batch's matrix products.
    @inlinable
    public func gather(_ indices: ArraySlice<Int>, features x: UnsafeMutablePointer<Float>, targets y: UnsafeMutablePointer<Float>) {
        features.withUnsafeBufferPointer { f in
            targets.withUnsafeBufferPointer { t in
                for (r, row) in indices.enumerated() {
                    (x + r * featureCount).update(from: f.baseAddress! + row * featureCount, count: featureCount)
                    (y + r * targetWidth).update(from: t.baseAddress! + row * targetWidth, count: targetWidth)
                }
            }
        }
    }

    /// Checks that every target is a class index in `0 ..< classes`, naming the first offending line.
    public func validateClassLabels(classes: Int) throws(DataError) {
        for (row, label) in targets.enumerated() where label != label.rounded() || label < 0 || Int(label) >= classes {
            throw DataError(
                source: sourceLines == nil ? source : location(ofRow: row),
                message: "label \(label) is not a class index in 0...\(classes - 1)",
                hint: label != label.rounded()
                    ? "a classifier's labels are class indices; for a numeric target, train model.kind: linear or model.head: regression"
                    : classes == 2
                    ? "a binary model needs labels 0 and 1"
                    : "set model.classes to the number of classes, or check data.label_column")
        }
    }
}
