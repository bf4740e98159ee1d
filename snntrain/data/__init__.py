"""Datasets: the registry of known datasets, download and conversion, loading, and spike encoding of inputs."""
from snntrain.data.encoding import latency_encode
from snntrain.data.registry import DATASETS, DatasetInfo, RemoteFile
from snntrain.data.store import Dataset, canonical_path, dataset_info, download_dataset, fetch_raw_file, load_dataset

__all__ = ["DATASETS", "Dataset", "DatasetInfo", "RemoteFile", "canonical_path", "dataset_info",
           "download_dataset", "fetch_raw_file", "latency_encode", "load_dataset"]
