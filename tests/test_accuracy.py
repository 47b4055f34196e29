"""The real models on the real images and video give the published answers
(../shared/data/README.md, "Reference results")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import av
import pytest

from streamcore import Classify, Detect, Engine, read_labels
from streamcore.sources.images import load_image
from tests.media import video_frame

ROOT = Path(__file__).resolve().parent.parent


async def classify(data: Path, model: str, labels: str, image: str) -> list:  # type: ignore[type-arg]
    adapter = Classify(top_k=3, labels=read_labels(data / "models" / labels))
    async with Engine(data / "models" / model, devices="cpu", adapter=adapter) as engine:
        result = await engine.infer(load_image(data / "images" / image))
    return list(result.value)


async def test_parrot_is_a_scarlet_macaw(shared_data: Path) -> None:
    top = await classify(shared_data, "mobilenet_v2_1.0_224_inat_bird_quant.tflite", "inat_bird_labels.txt", "parrot.jpg")
    assert top[0].id == 923 and top[0].label == "Ara macao (Scarlet Macaw)"
    assert 0.6 <= top[0].score <= 0.9


async def test_imagenet_references(shared_data: Path) -> None:
    model, labels = "mobilenet_v2_1.0_224_quant.tflite", "imagenet_labels.txt"
    cat = await classify(shared_data, model, labels, "cat_720p.jpg")
    assert cat[0].id == 286 and cat[0].label == "Egyptian cat" and cat[0].score > 0.7
    parrot = await classify(shared_data, model, labels, "parrot.jpg")
    assert parrot[0].id == 89 and parrot[0].score > 0.9
    hopper = await classify(shared_data, model, labels, "grace_hopper.bmp")
    assert hopper[0].id == 653 and hopper[0].score > 0.85


async def test_ssd_finds_the_person_in_frame_100(shared_data: Path) -> None:
    frame = video_frame(shared_data / "videos" / "one-by-one-person-detection.mp4", 100)
    adapter = Detect(threshold=0.5, labels=read_labels(shared_data / "models" / "coco_labels.txt"))
    model = shared_data / "models" / "ssd_mobilenet_v1_coco_quant_postprocess.tflite"
    async with Engine(model, devices="cpu", adapter=adapter) as engine:
        objects = (await engine.infer(frame)).value
    people = [o for o in objects if o.label == "person"]
    assert len(people) == 1, objects  # a marginal second object (~0.5) depends on the filter
    person = people[0]
    assert 0.55 <= person.score <= 0.8
    # README: box ~ (ymin 0.03, xmin 0.50, ymax 0.90, xmax 0.66) of the 768x432 frame.
    w, h = frame.width, frame.height
    expected = (0.50 * w, 0.03 * h, 0.66 * w, 0.90 * h)
    got = (person.bbox.xmin, person.bbox.ymin, person.bbox.xmax, person.bbox.ymax)
    assert all(abs(g - e) < 0.04 * max(w, h) for g, e in zip(got, expected)), got


async def test_ssd_on_a_region_of_interest_maps_boxes_to_the_frame(shared_data: Path) -> None:
    frame = video_frame(shared_data / "videos" / "one-by-one-person-detection.mp4", 100)
    model = shared_data / "models" / "ssd_mobilenet_v1_coco_quant_postprocess.tflite"
    async with Engine(model, devices="cpu", adapter=Detect(threshold=0.4), fit="letterbox") as engine:
        whole = (await engine.infer(frame)).value
        roi = (await engine.infer(frame, roi=(300, 0, 300, 432))).value
    assert whole and roi
    a, b = whole[0].bbox, roi[0].bbox
    assert b.xmin >= 300 and b.xmax <= 600
    assert abs(a.xmin - b.xmin) < 25 and abs(a.xmax - b.xmax) < 25


async def test_traffic_frames_two_cars(shared_data: Path) -> None:
    frame = video_frame(shared_data / "videos" / "traffic_frames.mp4", 0)
    labels = read_labels(shared_data / "models" / "coco_labels.txt")
    model = shared_data / "models" / "ssd_mobilenet_v1_coco_quant_postprocess.tflite"
    async with Engine(model, devices="cpu", adapter=Detect(threshold=0.5, labels=labels)) as engine:
        objects = (await engine.infer(frame)).value
    assert [o.label for o in objects] == ["car", "car"]


def test_classify_cli_reproduces_the_coral_example(shared_data: Path) -> None:
    models = shared_data / "models"
    out = subprocess.run(
        [sys.executable, "-m", "streamcore", "classify",
         "--model", str(models / "mobilenet_v2_1.0_224_inat_bird_quant.tflite"),
         "--labels", str(models / "inat_bird_labels.txt"), "--count", "3",
         str(shared_data / "images" / "parrot.jpg")],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "first inference includes loading" in out.stdout
    timings = [line for line in lines if line.endswith("ms")]
    assert len(timings) == 3
    results = lines[lines.index("-------RESULTS--------") + 1:]
    assert results[0].startswith("Ara macao (Scarlet Macaw): 0.")
