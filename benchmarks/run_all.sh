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
# cameras per core per scene, adaptive and full detection schedules in the same run (docs/capacity.md)
vigil bench cameras --scene crowd --json "$OUT/bench_cameras_720p_crowd.json" --cameras 1 --cameras 2 --cameras 3 --cameras 4 --cameras 5 --seconds 20
vigil bench cameras --scene passer-by --json "$OUT/bench_cameras_720p_passer-by.json" --cameras 2 --cameras 3 --cameras 10 --cameras 12 --cameras 14 --seconds 20
vigil bench cameras --scene empty --json "$OUT/bench_cameras_720p_empty.json" --cameras 2 --cameras 3 --cameras 20 --cameras 24 --cameras 28 --seconds 20
vigil bench recall --json "$OUT/bench_recall.json"
vigil bench latency --json "$OUT/bench_latency_scaleout_light.json" --cameras 4 --rounds 5 --fps 2
vigil bench latency --json "$OUT/bench_latency_scaleout.json" --cameras 8 --rounds 3 --fps 2
# reach: alert stored -> webhook / MQTT received (10 endpoints, 100 alerts, one endpoint down 5 s; the local Mosquitto)
vigil bench notify --json "$OUT/bench_notify.json"
