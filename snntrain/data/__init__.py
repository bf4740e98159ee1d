"""Datasets: the registry of known datasets, download and conversion, loading, and spike encoding of inputs."""
from snntrain.data.encoding import encode_events, latency_encode
from snntrain.data.formats import EventSamples
from snntrain.data.registry import DATASETS, DatasetInfo, RemoteFile
from snntrain.data.store import (
    Dataset,
    EventDataset,
    canonical_path,
    check_present,
    dataset_info,
    download_dataset,
    fetch_raw_file,
    load_dataset,
)

__all__ = ["DATASETS", "Dataset", "DatasetInfo", "EventDataset", "EventSamples", "RemoteFile", "canonical_path",
           "check_present", "dataset_info", "download_dataset", "encode_events", "fetch_raw_file", "latency_encode",
           "load_dataset"]
