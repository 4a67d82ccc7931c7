"""Ask the `digits` deployment about the test split, which training never saw: write a
few test images as PNG files (for `fermion predict --image`), then send the whole split
through the endpoint and compare the answers with the true labels."""

from __future__ import annotations

import sys
from pathlib import Path

import fermion as fm

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
test = fm.Dataset.from_local("digits", split="test")
images = [row["bytes"] for row in test.table["image"]]
labels = [str(label) for label in test.table[test.label_column]]
shown = list(range(0, len(labels), max(1, len(labels) // 20)))[:20]  # the split is by class
for i in shown[:8]:
    (out / f"test-{i}-label-{labels[i]}.png").write_bytes(images[i])

with fm.Client() as client:
    deployment = client.get_deployment("digits")
    trained = client.get_model_version(deployment.model).metrics["test"]["accuracy"]
    predicted = []
    for start in range(0, len(images), 64):
        answers = client.predict("digits", image=images[start : start + 64])
        predicted += [a["label"] for a in answers]
right = sum(p == t for p, t in zip(predicted, labels, strict=True))
print(f"test images {', '.join(map(str, shown))}")
print("true:      " + " ".join(labels[i] for i in shown))
print("predicted: " + " ".join(predicted[i] for i in shown))
print(f"{deployment.model}: test accuracy {trained:.4f} measured by the trainer;"
      f" {right / len(labels):.4f} served by {deployment.name} ({right} of {len(labels)})")
