"""Writes npy/ from test.csv with numpy.save, so the .npy reader is tested on files NumPy wrote."""
import pathlib
import numpy as np

here = pathlib.Path(__file__).parent
table = np.loadtxt(here / "test.csv", delimiter=",")
labels, features = table[:, 0].astype(np.int64), table[:, 1:]
out = here / "npy"
out.mkdir(exist_ok=True)
np.save(out / "test-labels-i8.npy", labels)
np.save(out / "test-features-f4.npy", features.astype(np.float32))
np.save(out / "test-features-f8.npy", features.astype(np.float64))
np.save(out / "test-features-u1.npy", features.astype(np.uint8))
np.save(out / "test-images-u1.npy", features.astype(np.uint8).reshape(-1, 8, 8))
np.save(out / "test-features-f4-fortran.npy", np.asfortranarray(features.astype(np.float32)))
np.save(out / "test-features-f4-bigendian.npy", features.astype(">f4"))
