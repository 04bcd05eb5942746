import Data
import Testing

/// Broken files end in a `DataError` that names the file, the line where there is one, and what was expected.
@Suite struct MalformedInputTests {
    /// The `DataError` that `body` throws; nil (failing the caller's expectation) if it succeeds.
    func error(_ body: () throws -> Void) -> DataError? {
        do { try body() } catch { return error as? DataError }
        return nil
    }

    func file(_ name: String, _ text: String) throws -> String {
        let path = "\(try Fixtures.temporaryDirectory())/\(name)"
        try Fixtures.write(Array(text.utf8), to: path)
        return path
    }

    @Test func raggedCSV() throws {
        let path = try file("ragged.csv", "0,1,2,3\n1,4,5,6\n2,7,8\n")
        let e = try #require(error { _ = try CSVReader.read(path: path) })
        #expect(e.description == "\(path), line 3: 3 columns, expected 4 (label + 3 features) as on the first line")
    }

    @Test func csvWithTextOrEmptyFields() throws {
        let text = try file("text.csv", "0,1,2\n1,x7,3\n")
        let textError = error { _ = try CSVReader.read(path: text) }
        #expect(textError?.description.hasPrefix("\(text), line 2: column 2 is 'x7', not a finite number") == true)
        #expect(textError?.hint == nil, "a header is only ever the first line")
        let empty = try file("empty.csv", "0,1,2\n1,,3\n")
        #expect(error { _ = try CSVReader.read(path: empty) }?.message == "column 2 is empty")
        let trailing = try file("trailing.csv", "0,1,2\n1,2,\n")
        #expect(error { _ = try CSVReader.read(path: trailing) }?.source == "\(trailing), line 2")
        let nan = try file("nan.csv", "0,1,nan\n")
        #expect(error { _ = try CSVReader.read(path: nan) }?.message == "column 3 is 'nan', not a finite number")
        let header = try file("header.csv", "label,x\n0,1\n")
        #expect(error { _ = try CSVReader.read(path: header) }?.hint == "if the first line is a header, set data.header: true")
    }

    /// An empty field between two delimiters is named whatever the delimiter, and a line of columns separated by
    /// another usual delimiter than the one given points to `data.delimiter`.
    @Test func csvWithAnotherDelimiter() throws {
        let tabs = try file("tabs.tsv", "0\t1\t2\n1\t\t3\n")
        #expect(error { _ = try CSVReader.read(path: tabs, delimiter: .character(9)) }?.message == "column 2 is empty")
        let tabsAsCommas = try #require(error { _ = try CSVReader.read(path: tabs) })
        #expect(tabsAsCommas.source == "\(tabs), line 1" && tabsAsCommas.hint == "are the columns separated by tabs? set data.delimiter: tab")
        let semicolons = try file("semicolons.csv", "0;1;2\n")
        #expect(error { _ = try CSVReader.read(path: semicolons) }?.hint == "are the columns separated by ';'? set data.delimiter: ';'")
        let blanks = try file("blanks.txt", "0 1 2\n1 2x 3\n")
        #expect(error { _ = try CSVReader.read(path: blanks, delimiter: .blanks) }?.message == "column 2 is '2x', not a finite number")
        let decimalComma = try #require(error { _ = try CSVReader.read(path: try file("comma.csv", "0;1,5;2\n"), delimiter: .character(59)) })
        #expect(decimalComma.message == "column 2 is '1,5', not a finite number")
        #expect(decimalComma.hint == "numbers are read with a decimal point, not a comma: write 1.5 (a spreadsheet writes points when saved in an English locale)")
        let pipes = try file("pipes.csv", "0|1|2\n")
        #expect(error { _ = try CSVReader.read(path: pipes, delimiter: .character(UInt8(ascii: "|"))) } == nil)
        #expect(error { _ = try CSVReader.read(path: try file("single.csv", "0\n1\n")) }?.hint
            == "are its columns separated by something other than ','? data.delimiter names it")
    }

    @Test func csvLabelColumnOutOfRange() throws {
        let path = try file("cols.csv", "0,1,2\n")
        #expect(error { _ = try CSVReader.read(path: path, labelColumn: .position(5)) }?.message == "label column 5 does not exist in 3 columns")
    }

    /// A label column named in the header must be there once, and the rows must have the header's columns.
    @Test func csvLabelColumnNameNotInTheHeader() throws {
        let path = try file("named.csv", "x1,x2,Label\n1,2,0\n")
        let missing = try #require(error { _ = try CSVReader.read(path: path, labelColumn: .name("label")) })
        #expect(missing.source == "\(path), line 1" && missing.message == "no column is named 'label' in the header: x1, x2, Label")
        #expect(missing.hint == "names are case-sensitive: did you mean 'Label'?")
        let wide = try file("wide.csv", (0 ..< 20).map { "p\($0)" }.joined(separator: ",") + "\n" + Array(repeating: "1", count: 20).joined(separator: ",") + "\n")
        #expect(error { _ = try CSVReader.read(path: wide, labelColumn: .name("label")) }?.message
            == "no column is named 'label' in the header: p0, p1, p2, p3, p4, p5, p6, p7, p8, p9, ... (20 columns)")
        let twice = try file("twice.csv", "y,x,y\n1,2,0\n")
        #expect(error { _ = try CSVReader.read(path: twice, labelColumn: .name("y")) }?.message == "the header names 2 columns 'y' (columns 0, 2)")
        let short = try file("short.csv", "x,y\n1,2,0\n")
        let mismatch = error { _ = try CSVReader.read(path: short, labelColumn: .name("y")) }
        #expect(mismatch?.source == "\(short), line 2" && mismatch?.message == "the header names 2 columns and this line has 3")
    }

    /// Every message lists names alike: ten, then how many in all; a list one longer than that goes whole.
    @Test func longListsOfNamesAreCutAlike() {
        let names = (0 ..< 12).map { "n\($0)" }
        #expect(nameList(Array(names.prefix(11)), counting: "classes") == names.prefix(11).joined(separator: ", "))
        #expect(nameList(names, counting: "classes") == "n0, n1, n2, n3, n4, n5, n6, n7, n8, n9, ... (12 classes)")
        #expect(nameList(names) == "n0, n1, n2, n3, n4, n5, n6, n7, n8, n9, ...")
        #expect(nameList([]) == "")
    }

    @Test func missingFile() {
        let e = error { _ = try CSVReader.read(path: "/nonexistent/train.csv") }
        #expect(e?.description.hasPrefix("/nonexistent/train.csv: cannot open: No such file or directory") == true)
    }

    /// A config's relative data path that names no file from the current directory, but does from the config's
    /// directory or one above it, gets a hint to run from there; other errors are left as they are.
    @Test func aMissingRelativeFileIsLocatedNearTheConfig() throws {
        let root = try Fixtures.temporaryDirectory()
        let folder = "data-\(UUID().uuidString)", relative = "\(folder)/train.csv"
        for directory in ["configs", folder] {
            try FileManager.default.createDirectory(atPath: "\(root)/\(directory)", withIntermediateDirectories: true)
        }
        try Fixtures.write(Array("0,1\n".utf8), to: "\(root)/\(relative)")
        let missing = try #require(error { _ = try CSVReader.read(path: relative) })
        #expect(missing.missingPath == relative)
        let here = FileManager.default.currentDirectoryPath
        #expect(missing.locatingMissingFile(near: "\(root)/configs").hint
            == "relative paths are taken from the current directory, \(here); \(root)/\(relative) exists: run from \(root), or give that path")
        #expect(missing.locatingMissingFile(near: "\(root)/configs/../configs/.").hint == missing.locatingMissingFile(near: "\(root)/configs").hint)
        let nowhere = try #require(error { _ = try CSVReader.read(path: "nowhere-\(UUID().uuidString).csv") })
        #expect(nowhere.locatingMissingFile(near: "\(root)/configs") == nowhere)
        let absolute = try #require(error { _ = try CSVReader.read(path: "/nonexistent/train.csv") })
        #expect(absolute.locatingMissingFile(near: "/") == absolute)
        let unreadable = try #require(error { _ = try CSVReader.read(path: root) })
        #expect(unreadable.missingPath == nil)
    }

    @Test func badLibsvmTokens() throws {
        let bad = try file("bad.libsvm", "1 1:0.5 2:1\n0 3=4\n")
        #expect(error { _ = try LIBSVMReader.read(path: bad) }?.description.hasPrefix("\(bad), line 2: token '3=4' is not index:value") == true)
        let zero = try file("zero.libsvm", "1 0:0.5\n")
        #expect(error { _ = try LIBSVMReader.read(path: zero) }?.message == "feature index 0 in '0:0.5' is below 1")
        let order = try file("order.libsvm", "1 2:1 2:3\n")
        #expect(error { _ = try LIBSVMReader.read(path: order) }?.message == "feature index 2 follows 2; indices must ascend")
        let wide = try file("wide.libsvm", "1 65:1\n")
        #expect(error { _ = try LIBSVMReader.read(path: wide, featureCount: 64) }?.message == "feature index 65 exceeds the 64 features configured")
        let label = try file("label.libsvm", "1,2 1:1\n")
        #expect(error { _ = try LIBSVMReader.read(path: label) }?.source == "\(label), line 1")
        let comments = try file("ok.libsvm", "# a comment\n1 qid:3 2:1.5 # trailing\n")
        let data = try LIBSVMReader.read(path: comments)
        #expect(data.features == [0, 1.5] && data.sourceLines == [2])
    }

    @Test func truncatedAndWrongMagicIDX() throws {
        let good = try readAll(Fixtures.digits("test-images-idx3-ubyte"))
        let dir = try Fixtures.temporaryDirectory()
        try Fixtures.write(Array(good.dropLast(100)), to: "\(dir)/truncated")
        let truncated = error { _ = try IDXReader.read(path: "\(dir)/truncated") }
        #expect(truncated?.message == "header says shape 360x8x8 (23056 bytes in all), file has 22956 bytes")
        #expect(truncated?.hint == "the file is truncated; download or copy it again")

        var gz = good
        gz[0] = 0x1F; gz[1] = 0x8B
        try Fixtures.write(gz, to: "\(dir)/magic")
        let magic = error { _ = try IDXReader.read(path: "\(dir)/magic") }
        #expect(magic?.message == "magic number 0x1F8B0803; expected an IDX file starting 0x00000803 (images) or 0x00000801 (labels)")

        try Fixtures.write(Array(good.prefix(9)), to: "\(dir)/header")
        #expect(error { _ = try IDXReader.read(path: "\(dir)/header") }?.message.hasPrefix("truncated header") == true)
        try Fixtures.write([0, 0], to: "\(dir)/tiny")
        #expect(error { _ = try IDXReader.read(path: "\(dir)/tiny") }?.hint == "the file is truncated or empty")
    }

    @Test func mismatchedLabelCount() throws {
        let images = try IDXReader.read(path: Fixtures.digits("test-images-idx3-ubyte"))
        let labels = try IDXReader.read(path: Fixtures.digits("train-labels-idx1-ubyte"))
        let e = error { _ = try Dataset(features: images, labels: labels, featuresPath: "test-images", labelsPath: "train-labels") }
        #expect(e?.description == "train-labels: 1437 labels for 360 samples in test-images\n  hint: the features and labels files must come from the same split")
    }

    @Test func brokenNPY() throws {
        let good = try readAll(Fixtures.digits("npy/test-features-f4.npy"))
        let dir = try Fixtures.temporaryDirectory()
        try Fixtures.write(Array(good.dropLast(4)), to: "\(dir)/short.npy")
        #expect(error { _ = try NPYReader.read(path: "\(dir)/short.npy") }?.message == "shape [360, 64] needs 92160 data bytes, file has 92156")
        try Fixtures.write(Array("PK\u{3}\u{4}not npy at all".utf8), to: "\(dir)/archive.npy")
        #expect(error { _ = try NPYReader.read(path: "\(dir)/archive.npy") }?.message == "not a .npy file (no \\x93NUMPY magic)")
        var complex = good
        let at = try #require((0 ..< 128).first { Array(complex[$0 ..< $0 + 3]) == Array("<f4".utf8) })
        complex[at + 1] = UInt8(ascii: "c"); complex[at + 2] = UInt8(ascii: "8")
        try Fixtures.write(complex, to: "\(dir)/complex.npy")
        #expect(error { _ = try NPYReader.read(path: "\(dir)/complex.npy") }?.message == "dtype '<c8' is not supported")
    }

    @Test func classLabelsOutOfRangeNameTheLine() throws {
        let path = try file("labels.csv", "0,1\n3,2\n12,1\n")
        let data = try CSVReader.read(path: path)
        let e = error { try data.validateClassLabels(classes: 10) }
        #expect(e?.source == "\(path), line 3")
        #expect(e?.message == "label 12.0 is not a class index in 0...9")
        #expect(e?.hint == "set model.classes to the number of classes, or check data.label_column")
        // A target with a fraction is a regression's, whichever the number of classes.
        let numeric = try CSVReader.read(path: try file("numeric.csv", "0,1\n0.5,2\n"))
        for classes in [2, 10] {
            let refused = error { try numeric.validateClassLabels(classes: classes) }
            #expect(refused?.message == "label 0.5 is not a class index in 0...\(classes - 1)")
            #expect(refused?.hint == "a classifier's labels are class indices; for a numeric target, train model.kind: linear or model.head: regression")
        }
    }

    func readAll(_ path: String) throws -> [UInt8] {
        try Array(Foundation.Data(contentsOf: URL(fileURLWithPath: path)))
    }
}

import Foundation
