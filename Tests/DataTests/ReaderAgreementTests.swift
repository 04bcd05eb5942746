import Data
import Testing

/// The same digits split read from files that scikit-learn and NumPy wrote in four formats.
@Suite struct ReaderAgreementTests {
    @Test(arguments: ["train", "test"])
    func csvLibsvmAndIdxGiveTheSameMatrix(split: String) throws {
        let csv = try CSVReader.read(path: Fixtures.digits("\(split).csv"))
        let libsvm = try LIBSVMReader.read(path: Fixtures.digits("\(split).libsvm"), featureCount: 64)
        let images = try IDXReader.read(path: Fixtures.digits("\(split)-images-idx3-ubyte"))
        let labels = try IDXReader.read(path: Fixtures.digits("\(split)-labels-idx1-ubyte"))
        let idx = try Dataset(features: images, labels: labels, featuresPath: "images", labelsPath: "labels")

        #expect(csv.rows == (split == "train" ? 1437 : 360))
        #expect(csv.featureCount == 64 && libsvm.featureCount == 64 && idx.featureCount == 64)
        #expect(images.shape == [csv.rows, 8, 8])
        #expect(csv.features == libsvm.features && csv.features == idx.features)
        #expect(csv.targets == libsvm.targets && csv.targets == idx.targets)
        #expect(Set(csv.targets) == Set((0 ..< 10).map(Float.init)))
        #expect(csv.features.max() == 16 && csv.features.min() == 0)
        #expect(csv.sourceLines?.first == 1 && libsvm.sourceLines?.last == csv.rows)
    }

    @Test(arguments: ["f4", "f8", "u1", "f4-fortran", "f4-bigendian"])
    func npyMatchesCSV(variant: String) throws {
        let csv = try CSVReader.read(path: Fixtures.digits("test.csv"))
        let features = try NPYReader.read(path: Fixtures.digits("npy/test-features-\(variant).npy"))
        let labels = try NPYReader.read(path: Fixtures.digits("npy/test-labels-i8.npy"))
        #expect(features.shape == [360, 64] && labels.shape == [360])
        let data = try Dataset(features: features, labels: labels, featuresPath: "f", labelsPath: "l")
        #expect(data.features == csv.features)
        #expect(data.targets == csv.targets)
    }

    /// A worker reads only its shard's rows: every reader, given rows of a file, gives just those rows of the whole
    /// file's, and refuses a file of another length than the selection was made in.
    @Test func eachReaderReadsOnlyTheRowsSelected() throws {
        let rows = [0, 1, 2, 57, 58, 200, 359]
        let selection = RowSelection(rows: rows, fileRows: 360)
        let csv = try CSVReader.read(path: Fixtures.digits("test.csv"))
        let expected = csv.selecting(rows: rows)
        let readers: [(String, (RowSelection) throws -> [Float])] = [
            ("csv", { try CSVReader.read(path: Fixtures.digits("test.csv"), only: $0).features }),
            ("libsvm", { try LIBSVMReader.read(path: Fixtures.digits("test.libsvm"), featureCount: 64, only: $0).features }),
            ("idx", { try IDXReader.read(path: Fixtures.digits("test-images-idx3-ubyte"), only: $0).values }),
            ("npy", { try NPYReader.read(path: Fixtures.digits("npy/test-features-u1.npy"), only: $0).values }),
            ("npy fortran", { try NPYReader.read(path: Fixtures.digits("npy/test-features-f4-fortran.npy"), only: $0).values }),
        ]
        for (name, read) in readers {
            #expect(try read(selection) == expected.features, "\(name)")
            do {
                _ = try read(RowSelection(rows: [1], fileRows: 361))
                Issue.record("\(name): a file of 360 rows was taken for one of 361")
            } catch let error as DataError {
                #expect(error.message == "holds 360 samples, where the server's copy of it holds 361", "\(name)")
            }
        }
        let labels = try IDXReader.read(path: Fixtures.digits("test-labels-idx1-ubyte"), only: selection)
        #expect(labels.shape == [rows.count] && labels.values == expected.targets)
        #expect(try IDXReader.read(path: Fixtures.digits("test-images-idx3-ubyte"), only: selection).shape == [rows.count, 8, 8])
        #expect(try CSVReader.read(path: Fixtures.digits("test.csv"), only: selection).sourceLines == rows.map { $0 + 1 })
    }

    @Test func npyImagesFlattenPerSample() throws {
        let images = try NPYReader.read(path: Fixtures.digits("npy/test-images-u1.npy"))
        #expect(images.shape == [360, 8, 8] && images.itemSize == 64)
        let csv = try CSVReader.read(path: Fixtures.digits("test.csv"))
        #expect(images.values == csv.features)
    }

    /// Windows line endings (a "\r\n" is one Swift character, which once kept a file from splitting into lines),
    /// comments, blank lines and SVMlight's `qid:` tokens.
    @Test func libsvmWithWindowsLineEndingsCommentsAndQid() throws {
        let dir = try Fixtures.temporaryDirectory()
        try Fixtures.write(Array("1 1:0.5 3:2\r\n# a comment line\r\n\r\n0 qid:7 2:1e-1 # trailing comment\r\n-1\t3:+4".utf8), to: "\(dir)/w.libsvm")
        let data = try LIBSVMReader.read(path: "\(dir)/w.libsvm")
        #expect(data.featureCount == 3 && data.targets == [1, 0, -1] && data.sourceLines == [1, 4, 5])
        #expect(data.features == [0.5, 0, 2, 0, 0.1, 0, 0, 0, 4])
        for (bad, message) in [("1 2:\n", "token '2:' is not index:value"), ("1 :3\n", "token ':3' is not index:value"),
                               ("1 2:3x\n", "token '2:3x' is not index:value"), ("x 1:2\n", "label 'x' is not a number"),
                               ("1 2:1 2:1\n", "feature index 2 follows 2; indices must ascend"), ("1 -2:1\n", "feature index -2 in '-2:1' is below 1"),
                               ("1 1:nan\n", "token '1:nan' is not index:value")] {
            try Fixtures.write(Array(bad.utf8), to: "\(dir)/bad.libsvm")
            do {
                _ = try LIBSVMReader.read(path: "\(dir)/bad.libsvm")
                Issue.record("\(bad) was read")
            } catch {
                #expect(error.message == message, "\(bad)")
            }
        }
    }

    @Test func libsvmWidthDefaultsToTheLargestIndex() throws {
        let data = try LIBSVMReader.read(path: Fixtures.digits("test.libsvm"))
        #expect(data.featureCount <= 64 && data.featureCount >= 60)
    }

    @Test func csvWithHeaderAndLastLabelColumn() throws {
        let dir = try Fixtures.temporaryDirectory()
        try Fixtures.write(Array("a,b,label\r\n1.5,2,0\r\n\n3,-4e1,1\r\n".utf8), to: "\(dir)/h.csv")
        let data = try CSVReader.read(path: "\(dir)/h.csv", hasHeader: true, labelColumn: .position(-1))
        #expect(data.features == [1.5, 2, 3, -40] && data.targets == [0, 1])
        #expect(data.sourceLines == [2, 4])
    }

    /// Columns separated by a tab, a semicolon or runs of blanks read as the same numbers as with commas, blanks
    /// around a field and a line's carriage return aside; a name is looked up in a header split the same way.
    @Test func csvDelimiters() throws {
        let dir = try Fixtures.temporaryDirectory()
        let files: [(String, CSVDelimiter)] = [
            ("label,a,b\n0, 1.5 ,2\n1,3,-4e1\n", .comma),
            ("label\ta\tb\n0\t 1.5 \t2\r\n1\t3\t-4e1\n", .character(9)),
            ("label;a;b\n0;1.5;2\n1 ; 3;-4e1\n", .character(UInt8(ascii: ";"))),
            ("  label   a b\n 0  1.5\t2  \r\n\n1 3 -4e1\n", .blanks),
        ]
        for (index, (text, delimiter)) in files.enumerated() {
            try Fixtures.write(Array(text.utf8), to: "\(dir)/\(index).csv")
            for column in [CSVColumn.position(0), .name("label")] {
                let data = try CSVReader.read(path: "\(dir)/\(index).csv", hasHeader: true, labelColumn: column, delimiter: delimiter)
                #expect(data.features == [1.5, 2, 3, -40] && data.targets == [0, 1], "\(delimiter.description), \(column)")
            }
        }
    }

    /// Numbers in double quotes, as some programs write every field, read as the numbers; an unclosed quote or
    /// text in quotes is no number.
    @Test func csvQuotedNumbers() throws {
        let dir = try Fixtures.temporaryDirectory()
        try Fixtures.write(Array("\"0\",\"1.5\", \"2\" \r\n1,3,\"-4e1\"\n".utf8), to: "\(dir)/quoted.csv")
        let data = try CSVReader.read(path: "\(dir)/quoted.csv")
        #expect(data.features == [1.5, 2, 3, -40] && data.targets == [0, 1] && data.classNames == nil)
        try Fixtures.write(Array("0 \"1.5\" 2\n".utf8), to: "\(dir)/quoted.txt")
        #expect(try CSVReader.read(path: "\(dir)/quoted.txt", delimiter: .blanks).features == [1.5, 2])
        for bad in ["0,\"1.5,2\n", "0,\"1.5 ,2\n", "0,\"x\",2\n", "0,\"1.5\"x,2\n"] {
            try Fixtures.write(Array(bad.utf8), to: "\(dir)/bad.csv")
            #expect(throws: DataError.self, "\(bad)") { _ = try CSVReader.read(path: "\(dir)/bad.csv") }
        }
    }

    /// A quoted field may hold the delimiter, and a doubled quote inside it is one quote (RFC 4180): header and
    /// class names such as "Iris, setosa" read whole. Elsewhere a quote is a character like any other.
    @Test func csvQuotedFieldsMayHoldTheDelimiter() throws {
        let dir = try Fixtures.temporaryDirectory()
        let text = "\"length, cm\",width,\"class, as named\"\n1.5,2,\"Iris, setosa\"\n3,4, \"Iris \"\"virginica\"\"\" \r\n5,6,\"Iris, setosa\"\n"
        try Fixtures.write(Array(text.utf8), to: "\(dir)/iris.csv")
        let data = try CSVReader.read(path: "\(dir)/iris.csv", labelColumn: .name("class, as named"))
        #expect(data.featureCount == 2 && data.features == [1.5, 2, 3, 4, 5, 6])
        #expect(data.classNames == ["Iris \"virginica\"", "Iris, setosa"] && data.targets == [1, 0, 1])
        try Fixtures.write(Array("a\"b,1\nc,2\n".utf8), to: "\(dir)/inner.csv")
        #expect(try CSVReader.read(path: "\(dir)/inner.csv").classNames == ["a\"b", "c"])
        try Fixtures.write(Array("\"Iris setosa\"  1 2\n\"Iris virginica\"\t3 4\n".utf8), to: "\(dir)/iris.txt")
        let blanks = try CSVReader.read(path: "\(dir)/iris.txt", delimiter: .blanks)
        #expect(blanks.classNames == ["Iris setosa", "Iris virginica"] && blanks.features == [1, 2, 3, 4])
    }

    /// RFC 4180 lets a quoted field hold line breaks: a header name or a class name may, and the sample goes on to
    /// the line its quote closes on, however the file's blocks fall; the next sample's line number counts every line.
    @Test func csvQuotedFieldsMayHoldLineBreaks() throws {
        let dir = try Fixtures.temporaryDirectory()
        let text = "\"Sepal\nlength\",width,\"class,\r\nas named\"\r\n1.5,2,\"Iris\r\nsetosa\"\r\n3,4, \"Iris \"\"vir\n\nginica\"\"\" \r\n"
            + "5,6,\"Iris\r\nsetosa\"\r\n7,8,plain\r\n"
        try Fixtures.write(Array(text.utf8), to: "\(dir)/iris.csv")
        for blockBytes in [1, 3, 7, 64, 8 << 20] {
            let data = try CSVReader.read(path: "\(dir)/iris.csv", labelColumn: .name("class,\r\nas named"), blockBytes: blockBytes)
            #expect(data.featureCount == 2 && data.features == [1.5, 2, 3, 4, 5, 6, 7, 8], "blocks of \(blockBytes)")
            #expect(data.classNames == ["Iris\r\nsetosa", "Iris \"vir\n\nginica\"", "plain"] && data.targets == [0, 1, 0, 2], "blocks of \(blockBytes)")
            #expect(data.sourceLines == [4, 6, 9, 11], "blocks of \(blockBytes)")
            let shard = try CSVReader.read(path: "\(dir)/iris.csv", labelColumn: .name("class,\r\nas named"),
                                           only: RowSelection(rows: [1, 3], fileRows: 4), blockBytes: blockBytes)
            #expect(shard.features == [3, 4, 7, 8] && shard.sourceLines == [6, 11], "blocks of \(blockBytes)")
        }
    }

    /// A quote opened by mistake would make a sample of the lines after it: the reader says which line and column
    /// opened it, whether no quote closes it, another field's quote does, or it stays open for a whole MiB.
    @Test func aQuoteThatDoesNotCloseItsFieldIsNamed() throws {
        let dir = try Fixtures.temporaryDirectory()
        let cases: [(text: String, line: Int, message: String)] = [
            ("a,b,c\n0,1,2\n1,2,\"3\n4,5,6\n", 3, "column 3 opens a double quote that no later quote closes"),
            ("1,\"2\n3,\"4\",x\n", 1, "the quoted field in column 2 runs on to line 2, where its closing quote is followed by '4\",x'"),
        ]
        for (index, (text, line, message)) in cases.enumerated() {
            try Fixtures.write(Array(text.utf8), to: "\(dir)/q\(index).csv")
            for blockBytes in [5, 8 << 20] {
                do {
                    _ = try CSVReader.read(path: "\(dir)/q\(index).csv", hasHeader: index == 0, blockBytes: blockBytes)
                    Issue.record("\(text) was read")
                } catch {
                    #expect(error.source.hasSuffix("q\(index).csv, line \(line)") && error.message == message, "\(error)")
                    #expect(error.hint?.contains("written twice") == true)
                }
            }
        }
        // A quote that closes well but makes one sample of two lines: the column count says how.
        try Fixtures.write(Array("x,1,2\n\"y\nz\",3,4,5\n".utf8), to: "\(dir)/two.csv")
        #expect(throws: DataError.self) { try CSVReader.read(path: "\(dir)/two.csv") }
        do { _ = try CSVReader.read(path: "\(dir)/two.csv") } catch {
            #expect(error.source.hasSuffix(", line 2") && error.message == "4 columns, expected 3 (label + 2 features) as on the first line")
            #expect(error.hint == "a quoted field here holds a line break, so this sample runs on to line 3: is a closing quote missing?")
        }
        // Read on block by block, an open quote gives up after a MiB rather than hold the rest of the file.
        let rows = String(repeating: "0,1,2\n", count: 400_000)
        try Fixtures.write(Array(("0,1,2\n1,\"2,3\n" + rows).utf8), to: "\(dir)/long.csv")
        do {
            _ = try CSVReader.read(path: "\(dir)/long.csv", blockBytes: 64 << 10)
            Issue.record("a quote open for 2.4 MB was read")
        } catch {
            #expect(error.source.hasSuffix(", line 2") && error.message == "column 2 opens a double quote that is still open 1 MiB on")
        }
    }

    /// A label column named in the header reads as the same column given by position, in each file where it
    /// stands (quoted or padded names too, and after a byte order mark), and takes the first line as the header
    /// without `hasHeader`.
    @Test func csvLabelColumnByName() throws {
        let dir = try Fixtures.temporaryDirectory()
        try Fixtures.write(Array("a,b,label\r\n1.5,2,0\r\n3,-4e1,1\r\n".utf8), to: "\(dir)/train.csv")
        try Fixtures.write(Array("\u{FEFF} \"label\" ,a,b\n1,1.5,2\n".utf8), to: "\(dir)/test.csv")
        let byName = try CSVReader.read(path: "\(dir)/train.csv", labelColumn: .name("label"))
        let byPosition = try CSVReader.read(path: "\(dir)/train.csv", hasHeader: true, labelColumn: .position(2))
        #expect(byName.features == byPosition.features && byName.targets == byPosition.targets && byName.sourceLines == byPosition.sourceLines)
        #expect(byName.features == [1.5, 2, 3, -40] && byName.targets == [0, 1])
        let test = try CSVReader.read(path: "\(dir)/test.csv", labelColumn: .name("label"))
        #expect(test.features == [1.5, 2] && test.targets == [1] && test.sourceLines == [2])
    }
}
