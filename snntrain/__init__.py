"""snntrain: train spiking neural networks with exact event-based gradients (BATS).

The Python API (imported on first use, so that `snntrain --help` stays quick):

    import snntrain
    model = snntrain.Model.from_toml("models/fashion.toml", overrides=["training.epochs=1"], device="cpu")
    history = model.fit(data_dir="data")              # writes runs/<name>-<time>/ as `snntrain train` does
    model = snntrain.Model.from_run("runs/fashion-20261126-120000", which="best")
    images, labels = snntrain.datasets.load("fashion-mnist").split("test")
    predictions = model.predict(images[:10])          # class per image; -1 where every output stayed silent
    layers = model.spikes(images[:10])                # per layer: times [N, neurons, max_spikes], counts
    print(model.evaluate("test").accuracy)

`snntrain.encode(images, t_window)` gives the input spike trains of images; `snntrain.Callback` is the base of
training callbacks (`fit(callbacks=[...])`).
"""

__version__ = "0.1.0"

__all__ = ["Callback", "LayerSpikes", "Model", "datasets", "encode"]


def __getattr__(name: str):  # PEP 562: the API loads numba, which the command line's help should not wait for
    if name in ("Model", "LayerSpikes", "encode"):
        from snntrain import model

        return getattr(model, name)
    if name == "Callback":
        from snntrain.training.callbacks import Callback

        return Callback
    if name == "datasets":
        import importlib

        return importlib.import_module("snntrain.datasets")
    raise AttributeError(f"module 'snntrain' has no attribute {name!r}")
