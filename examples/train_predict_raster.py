"""Train the default model on the shipped digits, predict 10 test images without their labels, plot a raster.

Run from a clone: python examples/train_predict_raster.py [EPOCHS]   (writes runs/ and raster.png here)
"""
import sys

import matplotlib
import numpy as np

import snntrain

matplotlib.use("Agg")  # files only, no window
import matplotlib.pyplot as plt  # noqa: E402

epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 30
model = snntrain.Model.from_toml("default", device="cpu")
history = model.fit(epochs=epochs, echo=lambda line: None)
print(f"{len(history)} epochs, best weights from {model.run_dir}")

images, labels = snntrain.datasets.load("digits").split("test")
print("predicted:", model.predict(images[:10]), "true:", labels[:10])
layers = model.spikes(images[:1])  # one image: the spike times of every layer
fig, axes = plt.subplots(len(layers), 1, sharex=True, figsize=(6, 5))
for ax, layer in zip(axes, layers):
    neuron, slot = np.nonzero(np.isfinite(layer.times[0]))
    ax.plot(1000 * layer.times[0, neuron, slot], neuron, "|", markersize=4)
    ax.set_ylabel(f"{layer.name}\nneuron")
axes[-1].set_xlabel("time (ms)")
fig.savefig("raster.png", dpi=120)
