import Config
import Data
import Foundation
import Testing
import Training

/// CSV labels that name classes: each name becomes its index among the sorted names of the training and test
/// files together, and a file or a model that cannot take them is refused with a message that says why.
@Suite struct ClassNameLabelTests {
    /// `text` written to a fresh file; its path.
    func file(_ name: String, _ text: String) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pstrain-names-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The `DataError` that `body` throws; nil (failing the caller's expectation) if it succeeds.
    func error(_ body: () throws -> Void) -> DataError? {
        do { try body() } catch { return error as? DataError }
        return nil
    }

    @Test func aFileThatNamesItsClassesReadsThemAsSortedIndices() throws {
        let path = try file("iris.csv", "1,2, setosa\n3,4,\"virginica\"\r\n\n5,6,versicolor\n7,8,setosa\n")
        let data = try CSVReader.read(path: path, labelColumn: .position(-1))
        #expect(data.classNames == ["setosa", "versicolor", "virginica"])
        #expect(data.targets == [0, 2, 1, 0] && data.features == [1, 2, 3, 4, 5, 6, 7, 8] && data.sourceLines == [1, 2, 4, 5])
        #expect(data.selecting(rows: [2, 1]).classNames == data.classNames, "a shard keeps the names")
        let numbers = try CSVReader.read(path: try file("numbers.csv", "0,1\n2,3\n"))
        #expect(numbers.classNames == nil && numbers.targets == [0, 2])
    }

    /// Numbers and names in one label column: the line that breaks the first line's kind is named.
    @Test func aLabelColumnHoldsNumbersOrNamesNotBoth() throws {
        let nameThenNumber = try file("a.csv", "a,1\n2,3\n")
        let first = try #require(error { _ = try CSVReader.read(path: nameThenNumber) })
        #expect(first.source == "\(nameThenNumber), line 2" && first.message == "the label is 2, a number, while line 1's is a class name")
        #expect(first.hint == "a label column holds numbers or class names, not both")
        let numberThenName = try file("b.csv", "\n0,1\nb,3\n")
        let second = try #require(error { _ = try CSVReader.read(path: numberThenName) })
        #expect(second.source == "\(numberThenName), line 3" && second.message == "the label is 'b', a name, while line 2's is a number")
        let empty = try file("d.csv", "a,1\n\"\",2\n")
        #expect(error { _ = try CSVReader.read(path: empty) }?.message == "the label is empty")
        let textFeature = try file("c.csv", "a,1\nb,x\n")
        #expect(error { _ = try CSVReader.read(path: textFeature) }?.message == "column 2 is 'x', not a finite number")
    }

    func config(train: String, test: String? = nil, kind: ModelKind = .softmax) -> RunConfig {
        var config = RunConfig()
        config.data.format = .csv
        config.data.train = train
        config.data.test = test
        config.model.kind = kind
        return config
    }

    /// A class the test file names and the training file lacks still has its place, the same in both files.
    @Test func theTrainingAndTestFilesShareOneListOfNames() throws {
        let run = try PreparedRun(config: config(train: try file("train.csv", "b,1\nd,2\nb,3\n"), test: try file("test.csv", "c,4\nd,5\n")))
        #expect(run.classNames == ["b", "c", "d"] && run.classes == 3 && run.spec.outputSize == 3)
        #expect(run.train.targets == [0, 2, 0] && run.test?.targets == [1, 2])
        #expect(run.classNamesDescription == "b=0, c=1, d=2")
        // Names that would blur the list (a comma, an equals sign, a quote, a line break) are shown quoted, escaped.
        let blurring = try PreparedRun(config: config(train: try file("blurring.csv", "\"Iris,\nsetosa\",1\n\"a=b\",2\nIris virginica,3\n")))
        #expect(blurring.classNamesDescription == "Iris virginica=0, \"Iris,\\nsetosa\"=1, \"a=b\"=2")
        let numbered = try file("numbered.csv", "0,4\n"), named = try file("named.csv", "b,1\n")
        for (train, test) in [(named, numbered), (numbered, named)] {
            let mixed = error { _ = try PreparedRun(config: config(train: train, test: test)) }
            #expect(mixed?.source == numbered && mixed?.message == "its labels are numbers, while \(named) names its classes",
                    "\(String(describing: mixed))")
        }
    }

    /// A model that predicts numbers, or fewer classes than the names, cannot take them.
    @Test func aModelMustHaveAClassForEveryName() throws {
        let three = try file("three.csv", "a,1\nb,2\nc,3\n")
        let linear = error { _ = try PreparedRun(config: config(train: three, kind: .linear)) }
        #expect(linear?.message == "the labels name classes (a, b, c); a linear model predicts numbers")
        let binary = error { _ = try PreparedRun(config: config(train: three, kind: .logistic)) }
        #expect(binary?.message == "the labels name 3 classes (a, b, c) for a model of 2" && binary?.hint?.hasPrefix("a binary model") == true)
        var two = config(train: three)
        two.model.classes = 2
        #expect(error { _ = try PreparedRun(config: two) }?.hint == "raise model.classes, or leave it out to count the names")
        let yesNo = try PreparedRun(config: config(train: try file("binary.csv", "yes,1\nno,2\n"), kind: .logistic))
        #expect(yesNo.classNames == ["no", "yes"] && yesNo.train.targets == [1, 0])
    }
}
