#!/usr/bin/env bash
# The whole path on data that ships with scikit-learn: images on disk -> a registered,
# versioned dataset -> a model trained by the built-in trainer (2 processes, gradient
# accumulation, AdamW, automatic precision) -> a deployment with 2 replicas ->
# predictions on held-out images. Uses the default FERMION_HOME (~/.fermion) and starts
# the local server on first use.
set -euo pipefail
demo="${DEMO_DIR:-build/demo}"
data="$demo/digits"
here="$(dirname "$0")"
# A rerun starts clean: the previous run's replicas would hold the CPUs training needs.
fermion deployment delete digits --yes >/dev/null 2>&1 && echo "(removed the previous run's deployment)" || true

echo "== Writing scikit-learn's digits as PNG files under $data"
python -c "from fermion.datasets.samples import write_digits_folder; write_digits_folder('$data')"

echo "== fermion dataset create --name digits --type \"image classification\" --source $data"
fermion dataset create --name digits --type "image classification" --source "$data"
fermion dataset show digits

echo "== Reading it back as a PyTorch dataset"
python - <<'PY'
import fermion as fm

train = fm.Dataset.from_local("digits", split="train")
loader = fm.DataLoader(train, batch_size=32, num_workers=2)
images, labels = next(iter(loader))
print(f"{train}: batches of {tuple(images.shape)}, classes {train.classes}")
PY

echo "== Your own training loop as a job: fermion job run --nproc 2 -- python train_digits.py"
job_dir=$(mktemp -d)
cp "$here/train_digits.py" "$job_dir/"
(cd "$job_dir" && fermion job run --name train-digits --nproc 2 --follow \
    -- python train_digits.py --epochs 2)
rm -rf "$job_dir"

echo "== The built-in trainer: fermion train --dataset digits --nproc 2 --grad-accum 2 --precision auto"
fermion train --dataset digits --name digits-cnn --nproc 2 \
    --grad-accum 2 --batch-size 16 --optimizer adamw --precision auto --epochs 15 --follow
fermion model show digits-cnn

echo "== fermion deploy digits-cnn --name digits --replicas 2"
fermion deploy digits-cnn --name digits --replicas 2 --cpu 1 --memory 2Gi
fermion deployment show digits

echo "== Predictions on held-out test images"
python "$here/predict_held_out.py" "$demo/held-out"
first=$(ls "$demo"/held-out/*.png | head -3)
echo "== fermion predict digits --image ... (file names carry the true label)"
fermion predict digits $(for f in $first; do printf -- "--image %s " "$f"; done)

url=$(fermion server status | sed -n 's/.*running at \([^ ]*\).*/\1/p')
echo
echo "Dashboard: $url/  (sign in with the token in ${FERMION_HOME:-~/.fermion}/credentials)"
echo "Endpoint:  $url/api/v1/deployments/digits/predict"
echo "API docs:  $url/docs"
echo "The server and the deployment keep running: 'fermion deployment delete digits',"
echo "'fermion server stop'."
