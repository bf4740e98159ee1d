"""What snntrain knows about each dataset: input shape, classes, and (for downloadable ones) files and mirrors."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset under its official name, with the checksum it must have.

    `digest` is "<algorithm>:<hex>". With `decompressed` the digest is that of the gzip-decompressed
    content: re-packaged copies (Debian re-gzips Fashion-MNIST) then verify just like the official files.
    """

    name: str
    digest: str
    decompressed: bool = False

    @property
    def algorithm(self) -> str:
        return self.digest.split(":", 1)[0]

    @property
    def hexdigest(self) -> str:
        return self.digest.split(":", 1)[1]


@dataclass(frozen=True)
class DatasetInfo:
    """Facts about one dataset. `shape` is (x, y, c) for images, (channels,) for event streams.

    Downloadable datasets also list their `files`, the `mirrors` (base URLs, tried in order) that serve them,
    the `raw_format` their files are parsed with, and the expected `sizes` (train, test).
    """

    name: str
    shape: tuple[int, ...]
    classes: int
    kind: str  # "image" | "events"
    files: tuple[RemoteFile, ...] = ()
    mirrors: tuple[str, ...] = ()
    raw_format: str | None = None  # "idx" | "emnist-mat"; None: no download support (yet)
    sizes: tuple[int, int] | None = None

    @property
    def downloadable(self) -> bool:
        return self.raw_format is not None


def _idx_files(md5s: tuple[str, str, str, str]) -> tuple[RemoteFile, ...]:
    names = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    return tuple(RemoteFile(n, f"md5:{h}", decompressed=True) for n, h in zip(names, md5s, strict=True))


# The official MD5s of the decompressed IDX files, as published with each dataset (MNIST's are the
# values widely pinned for yann.lecun.com's files; Fashion-MNIST's are in SPEC §9).
_MNIST = _idx_files(("6bbc9ace898e44ae57da46a324031adb", "a25bea736e30d166cdddb491f175f624",
                     "2646ac647ad5339dbf082846283269ea", "27ae3e4e09519cfbb04c329615203637"))
_FASHION = _idx_files(("f4a8712d7a061bf5bd6d2ca38dc4d50a", "9018921c3c673c538a1fc5bad174d6f9",
                       "8181f5470baa50b63fa0f6fddb340f0a", "15d484375f8d13e6eb1aabb0c3f46965"))
# NIST's matlab.zip is checked as a whole; this SHA-256 is the one JuliaML's MLDatasets.jl pins for it.
_EMNIST = (RemoteFile("matlab.zip", "sha256:e1fa805cdeae699a52da0b77c2db17f6feb77eed125f9b45c022e7990444df95"),)

DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo("digits", (8, 8, 1), 10, "image"),
        DatasetInfo("mnist", (28, 28, 1), 10, "image", _MNIST,
                    # yann.lecun.com refuses scripted downloads, so only mirrors of its files are listed.
                    ("https://ossci-datasets.s3.amazonaws.com/mnist/",
                     "https://storage.googleapis.com/cvdf-datasets/mnist/"),
                    "idx", (60000, 10000)),
        DatasetInfo("fashion-mnist", (28, 28, 1), 10, "image", _FASHION,
                    ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                     "https://fashion-mnist.s3.eu-central-1.amazonaws.com/",
                     "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
                    "idx", (60000, 10000)),
        DatasetInfo("emnist", (28, 28, 1), 47, "image", _EMNIST,
                    ("https://biometrics.nist.gov/cs_links/EMNIST/",
                     "https://www.itl.nist.gov/iaui/vip/cs_links/EMNIST/"),
                    "emnist-mat", (112800, 18800)),
        DatasetInfo("shd", (700,), 20, "events"),
        DatasetInfo("nmnist", (34, 34, 2), 10, "events"),
    )
}
