#!/usr/bin/env bash
# Re-runs every benchmark and evaluation recorded in BENCHMARKS.md.
# Needs ../shared (LFW, the crowd clip, YuNet and MobileFaceNet). Takes about an hour on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/results}
DATA=${DATA_DIR:-/tmp/vigil-bench}
LFW=../shared/data/lfw
mkdir -p "$OUT"
vigil() { .venv/bin/vigil --data-dir "$DATA" --models-dir ../shared/models "$@"; }

vigil bench embed --json "$OUT/bench_embed_1thread.json" --threads 1 --images "$LFW/images" --chips 64
vigil bench embed --json "$OUT/bench_embed_2threads.json" --threads 2 --images "$LFW/images" --chips 64
vigil bench detect --json "$OUT/bench_detect.json"
vigil eval lfw --data "$LFW" --json "$OUT/lfw_centerface_dlib-resnet.json" --detector centerface --embedder dlib-resnet --gallery-images 1 --gallery-images 3
vigil eval lfw --data "$LFW" --json "$OUT/lfw_yunet_mobilefacenet.json" --detector yunet --embedder mobilefacenet --gallery-images 1 --gallery-images 3
vigil eval lfw --data "$LFW" --json "$OUT/lfw_yunet_dlib-resnet.json" --detector yunet --embedder dlib-resnet --gallery-images 1 --gallery-images 3
vigil eval lfw --data "$LFW" --json "$OUT/lfw_centerface_mobilefacenet.json" --detector centerface --embedder mobilefacenet --gallery-images 1 --gallery-images 3
vigil bench live --json "$OUT/bench_live_1thread.json" --threads 1
vigil bench soak --minutes 10 --json "$OUT/live_soak.json"
vigil calibrate --data "$LFW" --people 1500 --json "$OUT/calibration_lfw.json"
VIGIL_EMBEDDER=mobilefacenet vigil calibrate --data "$LFW" --people 1500 --json "$OUT/calibration_lfw_mobilefacenet.json"
# scale-out capacity and latency (the latency run needs the local PostgreSQL and Redis)
vigil bench cameras --json "$OUT/bench_cameras_720p_crowd.json" --cameras 1 --cameras 2 --cameras 3
VIDEO_1FACE="$DATA/clips/portrait_walk_720p.mp4"
.venv/bin/python -c "import sys, numpy as np; from pathlib import Path; from vigil.samples import portrait_clip, sample_images; p = Path(sys.argv[1]); p.exists() or portrait_clip(np.ascontiguousarray(sample_images()[0]), p, seconds=8, fps=25, size=(1280, 720))" "$VIDEO_1FACE"
vigil bench cameras --video "$VIDEO_1FACE" --json "$OUT/bench_cameras_720p_one_face.json" --cameras 1 --cameras 2 --cameras 3
VIGIL_DETECTOR=yunet vigil bench cameras --json "$OUT/bench_cameras_720p_crowd_yunet.json" --cameras 2 --cameras 3 --cameras 4
VIGIL_DETECTOR=yunet vigil bench cameras --video "$VIDEO_1FACE" --json "$OUT/bench_cameras_720p_one_face_yunet.json" --cameras 3 --cameras 4 --cameras 5
vigil bench cameras --video "$VIDEO_1FACE" --json "$OUT/bench_cameras_720p_one_face_2cores.json" --cameras 2 --cameras 3 --cameras 4 --cores 2
vigil bench latency --json "$OUT/bench_latency_scaleout_light.json" --cameras 4 --rounds 5 --fps 2
vigil bench latency --json "$OUT/bench_latency_scaleout.json" --cameras 8 --rounds 3 --fps 2
