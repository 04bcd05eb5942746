import Numerics

/// Seeded synthetic problems with a known answer, for trying pstrain without any files.
public enum SyntheticKind: String, Sendable, CaseIterable, Codable {
    /// `y = x·w + b + noise·N(0,1)` with a random teacher `w`, `b`; a regression task.
    case linear
    /// `y = [x·w + b > 0]`, each label flipped with probability `noise`; a binary task.
    case logistic
    /// `y = argmax(x W + b)` over `classes`, each label replaced by a random class with probability `noise`.
    case softmax
    /// Gaussian clusters around random centres, standard deviation `noise`.
    case blobs
    /// Labels from a random tanh MLP teacher (`features -> 32 -> classes`), flipped with probability `noise`.
    case teacherMLP = "teacher_mlp"

    /// Whether targets are class indices (and how many classes), or regression values.
    public func classCount(requested classes: Int) -> Int? {
        switch self {
        case .linear: nil
        case .logistic: 2
        case .softmax, .blobs, .teacherMLP: classes
        }
    }
}

/// Generates a train and a test split from one teacher, so the test set measures generalisation.
public struct SyntheticData: Sendable {
    public var kind: SyntheticKind
    public var features: Int
    public var classes: Int
    public var noise: Double
    public var seed: UInt64

    public init(kind: SyntheticKind, features: Int, classes: Int = 10, noise: Double = 0.1, seed: UInt64 = 0) {
        precondition(features > 0 && classes >= 2 && noise >= 0, "synthetic data needs features > 0, classes >= 2, noise >= 0")
        self.kind = kind
        self.features = features
        self.classes = classes
        self.noise = noise
        self.seed = seed
    }

    /// `trainSamples` and `testSamples` rows drawn from the same teacher with independent streams.
    public func generate(trainSamples: Int, testSamples: Int) -> (train: Dataset, test: Dataset) {
        var teacherRNG = SeededGenerator(seed: seed, streams: 0x7EAC)
        let teacher = Teacher(kind: kind, features: features, classes: classes, rng: &teacherRNG)
        return (sample(trainSamples, teacher: teacher, stream: 1, name: "train"), sample(testSamples, teacher: teacher, stream: 2, name: "test"))
    }

    func sample(_ n: Int, teacher: Teacher, stream: UInt64, name: String) -> Dataset {
        var rng = SeededGenerator(seed: seed, streams: stream)
        var x = [Float](repeating: 0, count: n * features), y = [Float](repeating: 0, count: n)
        var row = [Double](repeating: 0, count: features)
        for r in 0 ..< n {
            let cluster = kind == .blobs ? rng.integer(below: classes) : 0
            if kind == .blobs {
                let centre = teacher.centres[cluster]
                for j in 0 ..< features { row[j] = centre[j] + noise * rng.normal() }
            } else {
                for j in 0 ..< features { row[j] = rng.normal() }
            }
            for j in 0 ..< features { x[r * features + j] = Float(row[j]) }
            switch kind {
            case .linear:
                y[r] = Float(teacher.scores(row)[0] + noise * rng.normal())
            case .blobs:
                y[r] = Float(cluster)
            case .logistic, .softmax, .teacherMLP:
                let scores = teacher.scores(row)
                var label = scores.count == 1 ? (scores[0] > 0 ? 1 : 0) : scores.indices.max { scores[$0] < scores[$1] }!
                if rng.uniform() < noise { label = rng.integer(below: kind == .logistic ? 2 : classes) }
                y[r] = Float(label)
            }
        }
        return Dataset(features: x, targets: y, featureCount: features, source: "synthetic \(kind.rawValue) (\(name), seed \(seed))")
    }
}

/// The random function that labels synthetic samples.
struct Teacher {
    var layers: [(weights: [[Double]], bias: [Double])] = []
    var centres: [[Double]] = []

    init(kind: SyntheticKind, features: Int, classes: Int, rng: inout SeededGenerator) {
        func layer(_ inputs: Int, _ outputs: Int) -> ([[Double]], [Double]) {
            let scale = 1 / Double(inputs).squareRoot()
            return ((0 ..< outputs).map { _ in (0 ..< inputs).map { _ in rng.normal() * scale } }, (0 ..< outputs).map { _ in rng.normal() * 0.1 })
        }
        switch kind {
        case .linear, .logistic: layers = [layer(features, 1)]
        case .softmax: layers = [layer(features, classes)]
        case .teacherMLP: layers = [layer(features, 32), layer(32, classes)]
        case .blobs:
            // Centres spread so that neighbouring clusters overlap little at noise 1 in a few dimensions.
            centres = (0 ..< classes).map { _ in (0 ..< features).map { _ in rng.uniform(-5, 5) } }
        }
    }

    func scores(_ x: [Double]) -> [Double] {
        var h = x
        for (l, (weights, bias)) in layers.enumerated() {
            h = zip(weights, bias).map { w, b in zip(w, h).reduce(b) { $0 + $1.0 * $1.1 } }
            if l < layers.count - 1 { h = h.map { Double.tanh($0) } }
        }
        return h
    }
}
