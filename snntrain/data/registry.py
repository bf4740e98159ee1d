"""What snntrain knows about each dataset: input shape, classes, and (for downloadable ones) files and mirrors."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset under its official name, with the checksum it must have.

    `digest` is "<algorithm>:<hex>". With `decompressed` the digest is that of the gzip-decompressed
    content: re-packaged copies (Debian re-gzips Fashion-MNIST) then verify just like the official files.
    `urls` are full addresses of this file at hosts whose paths do not end in its name (e.g. Mendeley Data);
    they are tried after the dataset's mirrors.
    """

    name: str
    digest: str
    decompressed: bool = False
    urls: tuple[str, ...] = ()

    @property
    def algorithm(self) -> str:
        """The hash algorithm of `digest` ("sha256", "md5")."""
        return self.digest.split(":", 1)[0]

    @property
    def hexdigest(self) -> str:
        """The expected digest, in hex."""
        return self.digest.split(":", 1)[1]


@dataclass(frozen=True)
class DatasetInfo:
    """Facts about one dataset. `shape` is (x, y, c) for images, (channels,) for event streams.

    Downloadable datasets also list their `files`, the `mirrors` (base URLs, tried in order) that serve them,
    and the `raw_format` their files are parsed with. `sizes` (train, test) are the split sizes where known: a
    conversion must give them, and the memory estimate takes no batch larger than its split.
    """

    name: str
    shape: tuple[int, ...]
    classes: int
    kind: str  # "image" | "events"
    files: tuple[RemoteFile, ...] = ()
    mirrors: tuple[str, ...] = ()
    raw_format: str | None = None  # "idx" | "emnist-mat" | "shd-hdf5" | "nmnist-zip"; None: not downloadable
    sizes: tuple[int, int] | None = None

    @property
    def downloadable(self) -> bool:
        """Whether `snntrain download` can fetch and convert it (else its files are placed by hand)."""
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

# SHD's gzipped HDF5 files as served by zenkelab.org (formerly compneuro.net). MD5s of the .gz files as pinned by
# norse (norse/dataset/spiking_heidelberg.py) and other SHD loaders; zenkelab.org/datasets/md5sums.txt is the
# authoritative list. Not yet checked against the real files (pinned without network access).
_SHD = (RemoteFile("shd_train.h5.gz", "md5:d47c9825dee33347913e8ce0f2be08b0"),
        RemoteFile("shd_test.h5.gz", "md5:3062a80ec0c5719404d5b02e166543b1"))
# N-MNIST (Orchard et al. 2015): the official Train.zip / Test.zip, archived on Mendeley Data (doi
# 10.17632/468j46mzdv.1) and linked from garrickorchard.com on Dropbox. MD5s as pinned by tonic
# (tonic/datasets/nmnist.py) and SpikingJelly. Not yet checked against the real files (pinned without network).
_MENDELEY = "https://data.mendeley.com/public-files/datasets/468j46mzdv/files/"
_DROPBOX = "https://www.dropbox.com/sh/tg2ljlbmtzygrag/"
_NMNIST = (RemoteFile("Train.zip", "md5:20959b8e626244a1b502305a9e6e2031",
                      urls=(_MENDELEY + "39c25547-014b-4137-a934-9d29fa53c7a0/file_downloaded",
                            _DROPBOX + "AABlMOuR15ugeOxMCX0Pvoxga/Train.zip?dl=1")),
           RemoteFile("Test.zip", "md5:69ca8762b2fe404d9b9bad1103e97832",
                      urls=(_MENDELEY + "05a4d654-7e03-4c15-bdfa-9bb2bcbea494/file_downloaded",
                            _DROPBOX + "AADSKgJ2CjaBWh75HnTNZyhca/Test.zip?dl=1")))

DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo("digits", (8, 8, 1), 10, "image", sizes=(1437, 360)),
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
        DatasetInfo("shd", (700,), 20, "events", _SHD,
                    ("https://zenkelab.org/datasets/", "https://compneuro.net/datasets/"),
                    "shd-hdf5", (8156, 2264)),
        # Input channel of an event: (x, y, polarity) flattened in C order, like an (x, y, c) image.
        DatasetInfo("nmnist", (34, 34, 2), 10, "events", _NMNIST, (), "nmnist-zip", (60000, 10000)),
    )
}
