import Data
import Foundation
import Testing

/// A file read as a format it is not in is named for what it is: the reader's own hint assumes the format was right.
@Suite struct DataFileKindTests {
    let malformed = MalformedInputTests()

    @Test func theDigitsFilesShowTheirKinds() throws {
        let kinds: [(String, DataFileKind)] = [("train.csv", .csv), ("test.libsvm", .libsvm), ("train-images-idx3-ubyte", .idx),
                                               ("test-labels-idx1-ubyte", .idx), ("npy/test-features-f4.npy", .npy),
                                               ("npy/test-labels-i8.npy", .npy)]
        for (name, kind) in kinds {
            #expect(DataFileKind.of(Fixtures.digits(name)) == kind, "\(name)")
        }
        let dir = try Fixtures.temporaryDirectory()
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/bin/sh")
        gzip.arguments = ["-c", "gzip -c '\(Fixtures.digits("train.csv"))' > '\(dir)/train.csv.gz'"]
        try gzip.run()
        gzip.waitUntilExit()
        #expect(gzip.terminationStatus == 0)
        #expect(DataFileKind.of("\(dir)/train.csv.gz") == .gzip)
        let texts: [(String, DataFileKind?)] = [
            ("label,a,b\n1,2,3\n0,4,5\n", .csv),  // a header, then samples
            ("1;2;3\n0;4;5\n", .csv),
            ("1\t2\n0\t4\n", .csv),
            ("# comment, with a comma\n+1 1:0.5 3:2 # and another, here\n-1 qid:3 2:1e-3\n", .libsvm),
            ("setosa,1\n\"Iris, versicolor\",2\nvirginica,3\n", nil),  // quoted delimiters: not told apart, left alone
            ("1 2 3\n4 5 6\n", nil),  // whitespace-delimited CSV or not: nothing clear
            ("7\n8\n", nil),
            ("", nil),
            ("PK\u{3}\u{4}rest of an archive", .zip),
        ]
        for (text, kind) in texts {
            try Fixtures.write(Array(text.utf8), to: "\(dir)/file")
            #expect(DataFileKind.of("\(dir)/file") == kind, "\(text)")
        }
        // Only whole lines count: a wide CSV file's first 64 KiB ends inside a line.
        let wide = String(repeating: "1," + String(repeating: "0.25,", count: 6000) + "1\n", count: 3)
        try Fixtures.write(Array(wide.utf8), to: "\(dir)/wide.csv")
        #expect(DataFileKind.of("\(dir)/wide.csv") == .csv)
        #expect(DataFileKind.of("\(dir)/no such file") == nil)
    }

    @Test func aFileReadAsAnotherFormatIsNamedForWhatItIs() throws {
        let libsvm = Fixtures.digits("train.libsvm"), csv = Fixtures.digits("train.csv"), images = Fixtures.digits("train-images-idx3-ubyte")
        let asCSV = try #require(malformed.error { _ = try CSVReader.read(path: libsvm) })
        #expect(asCSV.namingKind(of: libsvm, readAs: "csv").hint == "it looks like a LIBSVM file (a label, then index:value pairs): set data.format: libsvm")
        let asLIBSVM = try #require(malformed.error { _ = try LIBSVMReader.read(path: csv) })
        #expect(asLIBSVM.namingKind(of: csv, readAs: "libsvm").hint == "it looks like a CSV file: set data.format: csv")
        let asNPY = try #require(malformed.error { _ = try NPYReader.read(path: images) })
        #expect(asNPY.namingKind(of: images, readAs: "npy").hint?.hasPrefix("it looks like an IDX file: set data.format: idx") == true)
        // A binary file read as text is said to be one, not quoted.
        let binary = try #require(malformed.error { _ = try CSVReader.read(path: images) }).namingKind(of: images, readAs: "csv")
        #expect(binary.description == "\(images): an IDX file, not CSV text\n  hint: it looks like an IDX file: set data.format: idx, with its labels file as data.train_labels (data.test_labels)")

        // Left alone: an error in a file of the format it was read as, and one about another file.
        let ragged = try malformed.file("ragged.csv", "0,1,2\n1,4,5\n2,7\n")
        let raggedError = try #require(malformed.error { _ = try CSVReader.read(path: ragged) })
        #expect(raggedError.namingKind(of: ragged, readAs: "csv") == raggedError)
        #expect(asCSV.namingKind(of: csv, readAs: "libsvm") == asCSV)
    }

    /// IDX or NPY labels given as the features and the features as the labels.
    @Test func swappedFeaturesAndLabelsFilesAreSaidToBe() throws {
        let images = try IDXReader.read(path: Fixtures.digits("test-images-idx3-ubyte"))
        let labels = try IDXReader.read(path: Fixtures.digits("test-labels-idx1-ubyte"))
        let swapped = malformed.error { _ = try Dataset(features: labels, labels: images, featuresPath: "labels", labelsPath: "images") }
        #expect(swapped?.description == "images: labels have shape [360, 8, 8]; expected one label per sample\n"
                + "  hint: labels holds one value per sample: are the features and labels files swapped?")
    }
}
