"""Keras on a registered dataset, trained by two workers in step:

    pip install "fermion[tensorflow]"
    fermion job run --nproc 2 --follow -- python train_keras.py --epochs 10

Fermion gives each worker TF_CONFIG, so MultiWorkerMirroredStrategy finds the other
(run alone, the strategy has one worker). The model is Keras 2 (tf_keras): Keras 3's
`fit` does not run under that strategy. Its metrics appear live in the dashboard and
TensorBoard, and the registered model deploys like any other:

    fermion deploy digits-keras --name digits-keras
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf
import tf_keras as keras

import fermion as fm

parser = argparse.ArgumentParser()
parser.add_argument("--dataset", default="digits")
parser.add_argument("--name", default="digits-keras")
parser.add_argument("--epochs", type=int, default=10)
args = parser.parse_args()

strategy = tf.distribute.MultiWorkerMirroredStrategy()
worker = strategy.cluster_resolver.task_id or 0
print(f"worker {worker} of {strategy.num_replicas_in_sync} in sync", flush=True)

train = fm.Dataset.from_local(args.dataset, split="train")
validation = fm.Dataset.from_local(args.dataset, split="validation")
batch = 32 * strategy.num_replicas_in_sync  # the global batch, split between workers

with strategy.scope():
    model = keras.Sequential(
        [
            keras.Input(shape=(*train.to_tf().element_spec[0].shape,)),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(train.num_classes),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )

model.fit(
    train.to_tf(batch_size=batch, shuffle=True),
    validation_data=validation.to_tf(batch_size=batch),
    epochs=args.epochs,
    callbacks=[fm.keras.MetricsCallback(every_n_batches=5)],
    verbose=2 if worker == 0 else 0,
)
version = fm.keras.register(model, args.name, dataset=train)
if version is not None:
    print(f"registered {version.ref}: test accuracy {version.metrics['test']['accuracy']:.4f}")
