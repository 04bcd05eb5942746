/// Element types found in binary array files (IDX, NPY).
enum ElementType: Equatable {
    case uint8, int8, int16, int32, int64, float32, float64

    var size: Int {
        switch self {
        case .uint8, .int8: 1
        case .int16: 2
        case .int32, .float32: 4
        case .int64, .float64: 8
        }
    }
}

/// Converts `count` elements stored from `offset` in `bytes` to `Float`.
func decodeElements(_ bytes: [UInt8], offset: Int, count: Int, type: ElementType, bigEndian: Bool) -> [Float] {
    var values = [Float](repeating: 0, count: count)
    bytes.withUnsafeBytes { raw in
        let base = raw.baseAddress! + offset
        func word<W: FixedWidthInteger>(_ i: Int, _: W.Type) -> W {
            let w = base.loadUnaligned(fromByteOffset: i * W.bitWidth / 8, as: W.self)
            return bigEndian ? W(bigEndian: w) : W(littleEndian: w)
        }
        for i in 0 ..< count {
            switch type {
            case .uint8: values[i] = Float(base.load(fromByteOffset: i, as: UInt8.self))
            case .int8: values[i] = Float(base.load(fromByteOffset: i, as: Int8.self))
            case .int16: values[i] = Float(word(i, Int16.self))
            case .int32: values[i] = Float(word(i, Int32.self))
            case .int64: values[i] = Float(word(i, Int64.self))
            case .float32: values[i] = Float(bitPattern: word(i, UInt32.self))
            case .float64: values[i] = Float(Double(bitPattern: word(i, UInt64.self)))
            }
        }
    }
    return values
}

/// A decoded n-dimensional array: its shape and its values in row-major order.
public struct LoadedArray: Sendable, Equatable {
    public var shape: [Int]
    public var values: [Float]
    /// Elements per first-axis item: pixels per image, features per row.
    public var itemSize: Int { shape.dropFirst().reduce(1, *) }

    /// The first-axis items `items`, in that order.
    func selectingItems(_ items: [Int]) -> LoadedArray {
        let size = itemSize
        var selected = shape
        selected[0] = items.count
        return LoadedArray(shape: selected, values: items.flatMap { values[$0 * size ..< ($0 + 1) * size] })
    }
}

extension Dataset {
    /// Pairs a features array (`n x ...`, flattened per item) with a labels array of `n` entries.
    public init(features: LoadedArray, labels: LoadedArray, featuresPath: String, labelsPath: String) throws(DataError) {
        guard let n = features.shape.first, n > 0 else { throw DataError(source: featuresPath, message: "holds no samples") }
        guard labels.shape.count == 1 || (labels.shape.count == 2 && labels.shape[1] == 1) else {
            throw DataError(source: labelsPath, message: "labels have shape \(labels.shape); expected one label per sample",
                            hint: features.shape.count == 1 ? "\(featuresPath) holds one value per sample: are the features and labels files swapped?" : nil)
        }
        guard labels.shape[0] == n else {
            throw DataError(source: labelsPath, message: "\(labels.shape[0]) labels for \(n) samples in \(featuresPath)",
                            hint: "the features and labels files must come from the same split")
        }
        self.init(features: features.values, targets: labels.values, featureCount: max(features.itemSize, 1), source: featuresPath)
    }
}
