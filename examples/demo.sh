#!/usr/bin/env bash
# The user's path on data that ships with scikit-learn: images on disk -> a registered,
# versioned dataset. Uses the default FERMION_HOME (~/.fermion) and starts the local
# server on first use.
set -euo pipefail
data="${DEMO_DIR:-build/demo}/digits"

echo "== Writing scikit-learn's digits as PNG files under $data"
python -c "from fermion.datasets.samples import write_digits_folder; write_digits_folder('$data')"

echo "== fermion dataset create --name digits --type \"image classification\" --source $data"
fermion dataset create --name digits --type "image classification" --source "$data"

echo "== fermion dataset show digits"
fermion dataset show digits

echo "== fermion dataset head digits -n 5"
fermion dataset head digits -n 5

echo "== Reading it back as a PyTorch dataset"
python - <<'PY'
import fermion as fm

train = fm.Dataset.from_local("digits", split="train")
loader = fm.DataLoader(train, batch_size=32, num_workers=2)
images, labels = next(iter(loader))
print(f"{train}: batches of {tuple(images.shape)}, classes {train.classes}")
PY

echo "== fermion job run --nproc 2 --follow -- python train_digits.py --epochs 5"
job_dir=$(mktemp -d)
cp "$(dirname "$0")/train_digits.py" "$job_dir/"
(cd "$job_dir" && fermion job run --name train-digits --nproc 2 --cpu 2 --memory 4Gi --follow \
    -- python train_digits.py --epochs 5)
rm -rf "$job_dir"
fermion job list

echo
echo "The server keeps running in the background: 'fermion server status', 'fermion server stop'."
echo "API docs: $(fermion server status | sed -n 's/.*running at \([^ ]*\).*/\1/p')/docs"
