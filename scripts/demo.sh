#!/usr/bin/env bash
# The main job: train on the default data, evaluate on the test file, write the plots, predict a few photos.
set -euo pipefail
shared=${SHARED:-../shared}
# --ood: how many photos with no cat or dog get "neither", for the run's model card (README.md)
run=$(catdog train --data "$shared/data/train.parquet" --test "$shared/data/test.parquet" --ood "$shared/data/ood_diverse.parquet" --name demo)
echo "== evaluate $run on $shared/data/test.parquet"
catdog evaluate --model "$run" --data "$shared/data/test.parquet" --json
photos="$run/sample_photos"
python scripts/sample_photos.py "$shared/data/test.parquet" "$photos" 6
echo "== predict $photos"
catdog predict --model "$run" "$photos"
echo "== plots and summary in $run: $(cd "$run" && ls *.png README.md | tr '\n' ' ')"
